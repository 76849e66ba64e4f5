"""The case itself: opening, the case page, moving through the workflow, assigning, comments, files, findings, lists."""
