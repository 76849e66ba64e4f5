"""Petitions (đơn thư): intake, decision, deadlines, petitioner identity."""
