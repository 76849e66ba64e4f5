"""The case itself: the lists, the case page and its steps, assigning, comments, files, findings;
the one `cases` blueprint. The helper that runs a change from a form is cases/actions.py."""
