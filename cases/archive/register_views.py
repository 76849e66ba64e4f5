"""Placeholder: routes arrive with issue 24 (archive/register_views)."""

from __future__ import annotations
