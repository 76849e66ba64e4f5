"""Placeholder: routes arrive with issue 24 (oversight/visit_views)."""

from __future__ import annotations
