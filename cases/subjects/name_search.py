"""Finding people by part of their name: one blind index per word of the name (issue 17).

Officers type "Hòa" or "Trần Văn" and pick from a short list. The exact-match indexes on
Subject (protection/search.py) cannot answer that: they hash the whole name. So each word of
a dossier's full name and other names — family name, middle names, given name, aliases — gets
a blind index row of its own in ``subject_name_tokens`` (subject id, value), computed as the
other indexes are (protection/crypto.py): the word folded like the full-name index folds
names (case, diacritics, đ: "hoa" finds "Hòa"), length-prefixed, HMAC-SHA256 under a key
derived for ``subjects.name_tokens`` alone, truncated to ``WORD_BITS``. A search with several
words keeps the dossiers that have all of them; the candidates are then decrypted and kept
only if every word typed is a whole word of their name, so a truncation coincidence never
shows.

What it leaks, beyond the exact indexes (README, "Encryption"): who shares a name *word*
with whom (equal values), and how many words each name has. No plaintext, and nothing about
prefixes or substrings: "hoa" and "hoan" are unrelated values. Frequency analysis can guess
the commonest words ("nguyen" alone is borne by about 38% of Vietnamese; "van" and "thi"
are the commonest middle names), as it could guess the commonest full names from the
full-name index.

Why a fixed length and not a plan (index_plans): the number of distinct values is the
vocabulary of name words — a few thousand folded syllables however many dossiers there are —
not the population, so CipherSweet's rows-per-value rule does not apply. 16 bits (65,536
values) keeps words apart: truncating further would merge a rare word with a common one and
make its search read the common word's rows, which is what refusing "too common" prevents.

Bounded work at any size (issue 3's lookup bounds): a search first counts each word's rows
with a LIMIT (never more than ``PROBE_LIMIT + 1`` index entries per word), is refused as too
common when even its rarest word has more than ``PROBE_LIMIT`` rows, walks the rarest word's
rows probing the others through the primary key (value, subject id), and is refused again
when more than ``CANDIDATE_LIMIT`` people remain (``BORN_CANDIDATE_LIMIT`` with a date of
birth, of whom only the date is decrypted until it matches); only those few are decrypted.

Rows are written at flush time whenever a name changes (after the sealing flush has put the
plaintext back), deleted with the subject (ON DELETE CASCADE, and explicitly before an ORM
delete) and when its data key is destroyed (crypto-shredding), and rebuilt by
``flask --app app keys reindex`` (``rebuild_name_tokens``) for dossiers written before this
index existed; until then the search page says that older dossiers are found only by their
full name.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    ForeignKey,
    Integer,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, lazyload, load_only, mapped_column

from cases.models import Subject
from protection import reindex, signals
from protection.clock import utcnow
from protection.crypto import KeyRing, current_keyring
from protection.db import db
from protection.fields import IndexField, compute_index
from protection.index_plans import IndexPlan
from protection.keystore import DataKey
from protection.search import vietnamese_name

WORD_INDEX = "subjects.name_tokens"  # the name its HMAC key is derived under
WORD_BITS = 16
# A search reads at most this many index rows of its rarest word; beyond, "add a word".
PROBE_LIMIT = 1000
# ... and decrypts at most this many people; beyond, "add a word" too.
CANDIDATE_LIMIT = 100
# With a date of birth, this many: only their date is decrypted to narrow them down.
BORN_CANDIDATE_LIMIT = 500

_WORD = re.compile(r"\w+")
# compute_index's encoding and key derivation, for one word at a time.
_TOKEN = IndexField(key="name_tokens", table="subjects", column="name_tokens", sources=("word",),
                    normalise=(vietnamese_name,), bits=WORD_BITS)


class SubjectNameToken(db.Model):
    """One word of a subject's names, as a truncated keyed hash (never the word)."""

    __tablename__ = "subject_name_tokens"

    # The primary key leads with the value: a search reads one value's rows in order and
    # probes (value, subject) pairs; the subject index serves rewrites and deletes.
    value: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"),
                                                  primary_key=True, index=True)


class NameTooCommon(Exception):
    """The words typed are shared by too many people to list: the officer adds a word."""


def too_common_message() -> str:
    """What the officer reads beside the search box when NameTooCommon was raised."""
    return _("Thêm một từ nữa (họ, tên đệm hoặc tên) hoặc ngày sinh: quá nhiều người có "
             "những từ này trong họ tên để liệt kê.")


def name_words(*names: str | None) -> set[str]:
    """The folded words of some names: "Nguyễn Văn Hòa", "Hòa-Bình" → nguyen, van, hoa, binh."""
    words: set[str] = set()
    for name in names:
        folded = vietnamese_name(name) if name else None
        if folded:
            words.update(_WORD.findall(folded))
    return words


def word_value(keyring: KeyRing, word: str) -> int:
    return compute_index(keyring, _TOKEN, [word], WORD_BITS)


def subject_token_rows(keyring: KeyRing, subject_id: uuid.UUID, full_name: str | None,
                       other_names: str | None) -> list[dict[str, Any]]:
    values = {word_value(keyring, word) for word in name_words(full_name, other_names)}
    return [{"value": value, "subject_id": subject_id} for value in sorted(values)]


# --- search -----------------------------------------------------------------------------

def _bounded_rows(session: Session, table, values: list[int]) -> dict[int, int]:
    """Each value's rows, counted no further than PROBE_LIMIT + 1, in one statement."""
    counts = [select(func.count()).select_from(
        select(literal(1)).select_from(table).where(table.c.value == value).limit(PROBE_LIMIT + 1).subquery()
    ).scalar_subquery() for value in values]
    return dict(zip(values, session.execute(select(*counts)).one(), strict=True))


def find_by_words(text: str, *, born: date | None = None, where: Iterable[Any] = (),
                  also_load: Iterable[Any] = (), session: Session | None = None, model: type = Subject,
                  words_table=None) -> list:
    """Subjects having every word of `text` among the words of their names (and born on
    `born`); `where` narrows in SQL (a unit scope). Raises NameTooCommon rather than read
    or decrypt more than the bounds above. Only the fields compared, and `also_load`, are
    decrypted now (as protection.search.find does); `model` and `words_table`: the bench's
    twins."""
    session = session or db.session
    table = SubjectNameToken.__table__ if words_table is None else words_table
    words = name_words(text)
    if not words:
        return []
    keyring = current_keyring()
    values = {word_value(keyring, word) for word in words}
    counts = _bounded_rows(session, table, sorted(values))
    rarest = min(counts, key=counts.get)
    if counts[rarest] == 0:
        return []
    if counts[rarest] > PROBE_LIMIT:
        raise NameTooCommon
    driver = table.alias("word0")
    keys = DataKey.__table__
    # Each candidate's wrapped data key comes with it: one statement fewer than preloading.
    candidates = (select(driver.c.subject_id, keys.c.id, keys.c.wrapped_key, keys.c.master_key_id)
                  .join_from(driver, model, model.id == driver.c.subject_id)
                  .outerjoin(keys, keys.c.id == model.data_key_id)
                  .where(driver.c.value == rarest, *where))
    for number, value in enumerate(sorted(values - {rarest}), start=1):
        other = table.alias(f"word{number}")
        candidates = candidates.where(exists().where(other.c.value == value, other.c.subject_id == driver.c.subject_id))
    limit = CANDIDATE_LIMIT if born is None else BORN_CANDIDATE_LIMIT
    found = session.execute(candidates.limit(limit + 1)).all()
    if len(found) > limit:
        raise NameTooCommon
    if not found:
        return []
    ids = [row[0] for row in found]
    for _subject_id, *key in found:
        if key[0] is not None:  # None: shredded, nothing to open
            keyring.remember_wrapped(*key)
    known = set(session.identity_map.keys())
    columns = [model.id, model.data_key_id, model.full_name, model.other_names, model.date_of_birth, *also_load]
    if born is not None:
        # The date first, one field per candidate; the few born that day load the rest
        # when first touched.
        columns = [model.id, model.data_key_id, model.date_of_birth]
    matched = []
    for subject in session.scalars(select(model).where(model.id.in_(ids)).options(load_only(*columns))).all():
        if born in (None, subject.date_of_birth) and words <= name_words(subject.full_name, subject.other_names):
            matched.append(subject)
        elif inspect(subject).identity_key not in known:
            session.expunge(subject)  # a coincidence, or another birth date: its values leave with it
    return matched


def tokens_incomplete(session: Session | None = None) -> bool:
    """Whether dossiers written before this index may still lack their word rows (the
    migration marks it; `keys reindex` clears it). One primary-key read."""
    session = session or db.session
    marker = session.scalar(select(IndexPlan.rebuilt_through).where(IndexPlan.name == WORD_INDEX))
    return marker is not None


# --- writing at flush time ----------------------------------------------------------------

_PENDING = "hoso.name_tokens.pending"


@event.listens_for(Session, "before_flush")
def _note_name_changes(session: Session, flush_context, instances) -> None:
    # Runs after protection.fields' sealing listener (registered first): the names may be
    # ciphertext carriers now, so only note which subjects changed; the words are read
    # after the flush, when the plaintext is back.
    pending = session.info[_PENDING] = []
    table = SubjectNameToken.__table__
    gone = [obj.id for obj in session.deleted if isinstance(obj, Subject)]
    if gone:
        session.connection().execute(delete(table).where(table.c.subject_id.in_(gone)))
    for obj in (*session.new, *session.dirty):
        if not isinstance(obj, Subject) or obj in session.deleted:
            continue
        state = inspect(obj)
        if state.key is None or any(state.attrs[name].history.has_changes()
                                    for name in ("full_name", "other_names", "data_key_id")):
            pending.append(obj)


@event.listens_for(Session, "after_flush_postexec")
def _write_name_tokens(session: Session, flush_context) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    keyring = current_keyring()
    ids, rows = [], []
    for subject in pending:
        if inspect(subject).key is None:
            continue
        ids.append(subject.id)
        if subject.data_key_id is not None:  # a shredded dossier keeps no words
            rows += subject_token_rows(keyring, subject.id, subject.full_name, subject.other_names)
    table = SubjectNameToken.__table__
    connection = session.connection()
    connection.execute(delete(table).where(table.c.subject_id.in_(ids)))
    if rows:
        connection.execute(insert(table), rows)


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, previous_transaction) -> None:
    session.info.pop(_PENDING, None)


@signals.data_key_destroying.connect
def _shred_name_tokens(_sender, session: Session, data_key_id: uuid.UUID, **_) -> None:
    """Crypto-shredding a dossier takes its words with it: they are derived from its name."""
    table = SubjectNameToken.__table__
    session.execute(delete(table).where(table.c.subject_id.in_(
        select(Subject.id).where(Subject.data_key_id == data_key_id))))


# --- rebuilding: `keys reindex` -------------------------------------------------------------

def _announce(operation: str, **detail) -> None:
    signals.keys_changed.send(current_app._get_current_object(), operation=operation, **detail)


def rebuild_name_tokens(session: Session, keyring: KeyRing, *, batch_size: int = 1000,
                        on_start: Callable[[int], None] | None = None,
                        on_batch: Callable[[int], None] | None = None) -> int:
    """Recompute every dossier's word rows, a batch of subjects per transaction, in id
    order; the plan row remembers the last subject done, so an interrupted run goes on
    from there. Returns the subjects done."""
    plan = session.get(IndexPlan, WORD_INDEX)
    if plan is None:
        plan = IndexPlan(name=WORD_INDEX, bits=WORD_BITS, rebuilt_through="subjects:", updated_at=utcnow())
        session.add(plan)
        session.flush()
    position = (plan.rebuilt_through or "subjects:").partition(":")[2]
    after = uuid.UUID(position) if position else None
    remaining = select(func.count()).select_from(Subject)
    total = session.scalar(remaining.where(Subject.id > after) if after else remaining)
    session.commit()
    if on_start:
        on_start(total)
    _announce("reindex.start", index=WORD_INDEX, bits=WORD_BITS, rows=total)
    session.commit()
    table = SubjectNameToken.__table__
    done = 0
    while True:
        batch_ids = select(Subject.id).order_by(Subject.id).limit(batch_size)
        if after is not None:
            batch_ids = batch_ids.where(Subject.id > after)
        keyring.preload(session, select(Subject.data_key_id).where(Subject.id.in_(batch_ids)))
        query = (select(Subject).where(Subject.id.in_(batch_ids)).order_by(Subject.id)
                 .options(load_only(Subject.id, Subject.data_key_id, Subject.full_name, Subject.other_names),
                          lazyload(Subject.owner_unit))
                 .with_for_update(of=Subject))
        batch = session.scalars(query).all()
        if not batch:
            session.rollback()
            break
        rows = []
        for subject in batch:
            if subject.data_key_id is not None:
                rows += subject_token_rows(keyring, subject.id, subject.full_name, subject.other_names)
        connection = session.connection()
        connection.execute(delete(table).where(table.c.subject_id.in_([subject.id for subject in batch])))
        if rows:
            connection.execute(insert(table), rows)
        after = batch[-1].id
        session.execute(update(IndexPlan).where(IndexPlan.name == WORD_INDEX)
                        .values(rebuilt_through=f"subjects:{after}", updated_at=utcnow()))
        _announce("reindex.batch", index=WORD_INDEX, table=SubjectNameToken.__tablename__, rows=len(batch))
        session.commit()
        session.expunge_all()  # the batch's plaintext leaves memory with it
        done += len(batch)
        if on_batch:
            on_batch(len(batch))
    session.execute(update(IndexPlan).where(IndexPlan.name == WORD_INDEX)
                    .values(rebuilt_through=None, updated_at=utcnow()))
    _announce("reindex.finish", index=WORD_INDEX, bits=WORD_BITS, rows=done)
    session.commit()
    return done


reindex.register_side_index(reindex.SideIndex(
    name=WORD_INDEX, needs_rebuild=tokens_incomplete, rebuild=rebuild_name_tokens))
