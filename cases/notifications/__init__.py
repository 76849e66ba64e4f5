"""Work that finds its people (issue 20 §B): notifications in the app and by mail."""
