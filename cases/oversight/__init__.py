"""Oversight of subordinate units (issue 24 A): the unit board, inspection visits with their
recommendations, and the guidance library a unit publishes to its sub-units."""
