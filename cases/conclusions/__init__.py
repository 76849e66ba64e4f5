"""Conclusions: drafted, submitted, returned or approved, signed, corrected by new versions."""
