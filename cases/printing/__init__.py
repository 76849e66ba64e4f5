"""Printing approved conclusions as numbered copies, and the copy register."""
