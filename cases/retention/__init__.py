"""Archiving, retention, purging with its ledger, and the lifetime of classified items."""
