"""`flask --app app campaign import ...` and `campaign status REF --format json|csv|xlsx`."""

from __future__ import annotations

from flask.cli import AppGroup

campaign_cli = AppGroup("campaign", help="Review campaigns (đợt thẩm định).")
