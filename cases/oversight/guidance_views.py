"""Placeholder: routes arrive with issue 24 (oversight/guidance_views)."""

from __future__ import annotations
