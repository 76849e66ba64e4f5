"""The digital archive of paper dossiers (issue 24 B): the document register of each
person's dossier, scans attached to its documents, bulk digitisation, reading a scan as
watermarked page images, and optional text recognition."""
