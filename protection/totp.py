"""TOTP second factor (RFC 6238) with pyotp; every code is accepted at most once."""

from __future__ import annotations

import hmac
from datetime import datetime
from io import BytesIO

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import or_, update

from .db import db
from .fields import utcnow
from .identity import User

ISSUER = "Hoso"
# One step either side tolerates a clock 30 s off without widening the window further.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> bytes:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def matching_counter(secret: str, code: str, at: datetime | None = None) -> int | None:
    """The time step whose code equals `code`, or None."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_counter = totp.timecode(at or utcnow())
    for counter in range(now_counter - VALID_WINDOW, now_counter + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def current_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def consume_code(user: User, code: str, *, secret: str | None = None) -> bool:
    """Accept `code` for `user` once. The compare-and-set UPDATE makes two workers that
    receive the same code at the same moment agree: only one row update succeeds."""
    secret = secret or user.totp_secret
    if not secret:
        return False
    counter = matching_counter(secret, code)
    if counter is None:
        return False
    result = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .where(or_(User.totp_last_counter.is_(None), User.totp_last_counter < counter))
        .values(totp_last_counter=counter)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    user.totp_last_counter = counter
    return True
