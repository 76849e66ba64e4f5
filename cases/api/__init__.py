"""The partner API, /api/v1/ (issue 21 §A): the liaison's work for a partner body's system."""
