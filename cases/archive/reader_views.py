"""Placeholder: routes arrive with issue 24 (archive/reader_views)."""

from __future__ import annotations
