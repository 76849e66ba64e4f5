"""Need-to-know beyond assignment: recusal, break-the-glass access and its review queue."""
