"""Coordination requests (phối hợp): asking other bodies to verify facts, and their answers."""
