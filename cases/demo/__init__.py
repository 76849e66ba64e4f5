"""Fictional dossiers and case work for the demo organisation."""
