"""TOTP second factor (RFC 6238) with pyotp; every code is accepted at most once."""

from __future__ import annotations

import enum
import hmac
import math
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import or_, select, update

from .clock import utcnow
from .db import db
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


class CodeOutcome(enum.Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"  # no code of the window matches: a guess, or a typo
    REUSED = "reused"  # a right code, but its time step was already used (replay or re-typing)


@dataclass(frozen=True)
class CodeCheck:
    outcome: CodeOutcome
    # For REUSED: seconds until the authenticator shows a code the server will accept.
    wait_seconds: int = 0

    @property
    def accepted(self) -> bool:
        return self.outcome is CodeOutcome.ACCEPTED


def _seconds_until_fresh_code(secret: str, last_counter: int, at: datetime) -> int:
    """How long until the authenticator shows a step after `last_counter` (at least 1 s;
    if that step is already showing, the rest of the current step, after which a fresh
    code certainly appears)."""
    totp = pyotp.TOTP(secret)
    now = at.timestamp()
    fresh_from = (last_counter + 1) * totp.interval
    if fresh_from <= now:
        fresh_from = (totp.timecode(at) + 1) * totp.interval
    return max(1, math.ceil(fresh_from - now))


def check_code(user: User, code: str, *, secret: str | None = None) -> CodeCheck:
    """Accept `code` for `user` once. The compare-and-set UPDATE makes two workers that
    receive the same code at the same moment agree: only one row update succeeds, and the
    other is told the code was already used."""
    secret = secret or user.totp_secret
    if not secret:
        return CodeCheck(CodeOutcome.WRONG)
    at = utcnow()
    counter = matching_counter(secret, code, at)
    if counter is None:
        return CodeCheck(CodeOutcome.WRONG)
    result = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .where(or_(User.totp_last_counter.is_(None), User.totp_last_counter < counter))
        .values(totp_last_counter=counter)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        last = db.session.scalar(select(User.totp_last_counter).where(User.id == user.id))
        return CodeCheck(CodeOutcome.REUSED, _seconds_until_fresh_code(secret, max(last or counter, counter), at))
    user.totp_last_counter = counter
    return CodeCheck(CodeOutcome.ACCEPTED)
