"""Benchmarks: `python -m bench`. Figures are printed, never asserted."""
