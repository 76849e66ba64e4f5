"""Placeholder: routes arrive with issue 24 (oversight/board_views)."""

from __future__ import annotations
