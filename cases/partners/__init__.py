"""Partner bodies outside the intranet (issue 21): their API clients and their exchange keys."""
