"""The periodic statistics report and the counts behind it."""
