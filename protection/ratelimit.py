"""Rate limits on guessing: the sign-in form per address, and every re-check of a
signed-in user's password or code per account.

The limiter's storage is HOSO_RATELIMIT_STORAGE_URI (memory for one process, Redis for
several servers), so all workers count the same attempts when it is shared.
"""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from .identity import User

limiter = Limiter(key_func=get_remote_address)


def login_rate_limit() -> str:
    return current_app.config["HOSO_LOGIN_RATE_LIMIT"]


def allow_recheck(user: User) -> bool:
    """Count one re-check attempt of `user`'s password or code; False once the sign-in
    limit is used up. Keyed by account, not address: whoever guesses behind a signed-in
    session guesses for that one account, from wherever."""
    if not limiter.enabled:  # RATELIMIT_ENABLED=False turns every limit off, this one too
        return True
    strategy = limiter.limiter
    # Every window is hit (no short-circuit), as the sign-in route's limits all are.
    hits = [strategy.hit(item, "recheck", str(user.id)) for item in parse_many(login_rate_limit())]
    return all(hits)
