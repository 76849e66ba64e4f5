"""Reviews of a subject's political standard: opening one (and knowing when a subject is due for re-review)."""
