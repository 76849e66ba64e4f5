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


def recheck_allowed(user: User) -> bool:
    """Whether `user` may try a re-check of their password or code now: False once the
    failed re-checks of the account have used up the sign-in limit. Keyed by account, not
    address: whoever guesses behind a signed-in session guesses for that one account, from
    wherever. Only failures are counted (count_failed_recheck): a supervisor approving a
    congress campaign's conclusions one after another is not guessing, and must not wait."""
    if not limiter.enabled:  # RATELIMIT_ENABLED=False turns every limit off, this one too
        return True
    strategy = limiter.limiter
    return all(strategy.test(item, "recheck", str(user.id)) for item in parse_many(login_rate_limit()))


def count_failed_recheck(user: User) -> None:
    """One failed re-check of `user`'s password or code, in every window of the limit."""
    if not limiter.enabled:
        return
    strategy = limiter.limiter
    for item in parse_many(login_rate_limit()):
        strategy.hit(item, "recheck", str(user.id))
