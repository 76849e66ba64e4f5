"""How many bits each blind index keeps in this installation, and rebuilding an index when
the population it was planned for has changed.

CipherSweet's rule (index_bits_range, below) ties an index's length to the number of rows
R: every index value should be shared by between 2 and √R rows. A fixed length cannot
follow a province from its first 10k dossiers to 1M: at 15 bits a 10k install shares a
value among 0.3 rows (it points at one person: too much leakage) and a 1M install among
30 (every lookup decrypts 30 candidates: too slow). So the length is a property of the
installation, kept in `blind_index_plans`, chosen from the planned number of rows
(`plan_bits`: the top of CipherSweet's range, 2 to 4 rows per value), and changed with
`flask --app app keys reindex`, which recomputes the stored values in batches while the
app serves.

While a rebuild runs, a plan has `previous_bits`: rows not rebuilt yet still hold values
of that length, so lookups ask for both lengths (candidates are confirmed by decryption,
so the extra ones cost a little and never show). Writers compute the new length only.
On PostgreSQL every transaction that writes an index value holds a shared advisory lock
from the moment it reads the plan; switching a plan takes it exclusively, so no writer
that read the old length can commit after the switch. SQLite transactions are already
serialised (BEGIN IMMEDIATE).

A users' citizen index (recusal) has no plaintext to rebuild from — Hoso never stores a
user's citizen ID number — so it is kept at a fixed length of its own
(`RECUSAL_INDEX`), and compared with the dossiers' indexes on the prefix the two share:
a truncated HMAC of fewer bits is a prefix of the longer one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, and_, event, or_, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from .clock import UTCDateTime, utcnow
from .db import Base

# --- how long an index is -------------------------------------------------------------

def index_bits_range(population: int) -> tuple[int, int]:
    """CipherSweet's bounds on a blind index's length L for `population` rows.

    Each value of a blind index should be shared by C = R / 2**L rows with 2 <= C <= sqrt(R)
    (paragonie/ciphersweet, "Blind Index Planning" and src/Planner/FieldIndexPlanner.php):
    fewer than 2 and an index value points at one row; more than sqrt(R) and a lookup
    decrypts too many candidates to be worth having. Returns (min L, max L).

    ====== ======= ========== =====================================
    R      log2 R  L range    C at L = 15 (the default until planned, below)
    ====== ======= ========== =====================================
    10k    13.3    7 .. 12    0.3  (below 2: a small install leaks more)
    65k    16.0    8 .. 15    2.0
    100k   16.6    9 .. 15    3.1
    1M     19.9    10 .. 18   30.5 (≤ √R = 1000)
    ====== ======= ========== =====================================
    """
    if population < 4:
        raise ValueError("a blind index needs an expected population of at least 4 rows")
    low = math.ceil(math.log2(population) / 2)
    high = math.floor(math.log2(population / 2))
    return low, high


# The length of an index the installation has not planned yet: right for about 65k rows
# (2 coincidences per value; see index_bits_range). `keys reindex --rows N` plans it for
# the population expected (plan_bits: 12 bits at 10k, 18 at 1M), so lookups
# decrypt 2 to 4 candidates at any size.
DEFAULT_INDEX_BITS = 15


# --- this installation's plans ----------------------------------------------------------

# The citizen-ID index of the dossiers (subjects and relatives share its key and length).
CITIZEN_INDEX = "subjects.id_number_index"
# Users' own citizen index, compared with CITIZEN_INDEX for recusal.
RECUSAL_INDEX = "users.citizen_index"
RECUSAL_BITS = 24
MAX_BITS = 24  # 16M distinct values: far beyond a province, and fits the Integer columns
MIN_PLANNED_ROWS = 16

# "HosoIdxP": the advisory lock writers share and a plan switch takes alone.
_ADVISORY_LOCK = 0x486F736F49647850
_CACHE = "hoso.index_plans"
# Set once the transaction holds the writers' shared lock (PostgreSQL) or needs none (SQLite).
_WRITE_LOCK_SETTLED = "hoso.index_plans.write_lock_settled"


class IndexPlan(Base):
    __tablename__ = "blind_index_plans"

    # The index key's name (IndexField.name): indexes sharing a key share their length.
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    bits: Mapped[int] = mapped_column(Integer)
    previous_bits: Mapped[int | None] = mapped_column(Integer)
    planned_rows: Mapped[int | None] = mapped_column(Integer)
    # Where an interrupted rebuild goes on: "table:primary key" of the last row done.
    rebuilt_through: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Widths:
    bits: int
    previous: int | None = None

    @property
    def all(self) -> tuple[int, ...]:
        return (self.bits,) if self.previous in (None, self.bits) else (self.bits, self.previous)


def plan_bits(rows: int) -> int:
    """The length for `rows` rows: the top of CipherSweet's range, so 2 to 4 rows share
    each value (the fewest candidates a lookup decrypts without pointing at one row)."""
    rows = max(rows, MIN_PLANNED_ROWS)
    return min(MAX_BITS, math.floor(math.log2(rows / 2)))


def _plans(session: Session) -> dict[str, Widths]:
    cached = session.info.get(_CACHE)
    if cached is None:
        rows = session.connection().execute(
            select(IndexPlan.name, IndexPlan.bits, IndexPlan.previous_bits)).all()
        cached = session.info[_CACHE] = {name: Widths(bits, previous) for name, bits, previous in rows}
    return cached


def widths(session: Session, name: str, default: int) -> Widths:
    """The lengths a lookup on index `name` asks for (two while it is being rebuilt)."""
    return _plans(session).get(name) or Widths(default)


def bits_for_write(session: Session, name: str, default: int) -> int:
    """The length a new value of index `name` gets; on PostgreSQL the transaction holds
    the writers' shared lock from here on, so a plan cannot switch under it."""
    if not session.info.get(_WRITE_LOCK_SETTLED):
        # Settled once per transaction, on SQLite too: asking the session for its bind on
        # every indexed value cost more than computing the index.
        if session.get_bind().dialect.name == "postgresql":
            session.info.pop(_CACHE, None)  # read the plan under the lock, not before it
            session.connection().execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": _ADVISORY_LOCK})
        session.info[_WRITE_LOCK_SETTLED] = True
    return widths(session, name, default).bits


def lock_plans_exclusively(session: Session) -> None:
    """Wait until no transaction that read a plan to write with it is open (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    session.info.pop(_CACHE, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction: its lock is gone too
        session.info.pop(_CACHE, None)
        session.info.pop(_WRITE_LOCK_SETTLED, None)


# --- recusal: a user's index against the dossiers' --------------------------------------

def _prefix(value: int, bits: int, keep: int) -> int:
    return value >> (bits - keep)


def recusal_widths(session: Session) -> tuple[int, Widths]:
    return widths(session, RECUSAL_INDEX, RECUSAL_BITS).bits, widths(session, CITIZEN_INDEX, DEFAULT_INDEX_BITS)


def same_person(session: Session, user_index: int | None, indexes: Iterable[int]) -> bool:
    """Whether a user's citizen index agrees with one of the dossiers' `indexes` on the bits
    they share (either length while the dossiers' index is rebuilt). A coincidence only
    recuses someone needlessly, never the other way round."""
    if user_index is None:
        return False
    user_bits, dossier = recusal_widths(session)
    for bits in dossier.all:
        keep = min(bits, user_bits)
        mine = _prefix(user_index, user_bits, keep)
        if any(value is not None and _prefix(value, bits, keep) == mine for value in indexes):
            return True
    return False


def matches_user(session: Session, column, user_index: int):
    """SQL: `column` (a dossiers' citizen index) agrees with the user's index on the bits
    they share. A longer dossier value is a range of values under the user's prefix, so
    the column's own index answers either way."""
    user_bits, dossier = recusal_widths(session)
    criteria = []
    for bits in dossier.all:
        if bits <= user_bits:
            criteria.append(column == _prefix(user_index, user_bits, bits))
        else:
            spread = bits - user_bits
            criteria.append(and_(column >= user_index << spread, column < (user_index + 1) << spread))
    return or_(*criteria)
