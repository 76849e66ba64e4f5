"""Exact-match search over encrypted fields: normalisers, and lookups through blind indexes.

A blind index holds a few bits of a keyed hash, so a lookup returns *candidates*: every row
whose value hashes to the same bucket (2 to 4 rows for the population the installation's
plan is made for, see index_plans). ``find`` decrypts the candidates' source fields and keeps only
those equal to the query after normalisation, so callers never see a false positive::

    find(Subject.full_name_index, "nguyen van an")          # Nguyễn Văn An, NGUYỄN  VĂN AN, ...
    find(Subject.id_number_index, "001 085 012 345")
    find(Subject.name_birth_index, "Trần Thị Bình", date(1980, 5, 1), where=[Subject.unit_id == unit.id])
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import load_only

from . import index_plans
from .crypto import current_keyring
from .db import db
from .fields import compute_index, index_field, low_variety, spec_for

# đ/Đ are letters of their own in Unicode, not d plus a mark, so decomposition keeps them;
# Ð (U+00D0, Icelandic eth) and ð are common mistypes for Đ/đ in Vietnamese input.
_LETTERS_WITHOUT_DECOMPOSITION = str.maketrans({"đ": "d", "Đ": "d", "Ð": "d", "ð": "d"})
# Every Vietnamese tone and vowel mark decomposes into U+0300..U+036F (Combining Diacritical
# Marks): grave, acute, tilde, hook above, dot below, circumflex, breve, horn.
_VIETNAMESE_MARKS = re.compile("[\u0300-\u036f]")


def vietnamese_name(text: Any) -> str | None:
    """Fold a name so spellings of one name compare equal: `Nguyễn Văn An` → `nguyen van an`.

    NFKD (a superset of NFD that also folds full-width and other compatibility forms some
    input methods produce) separates letters from their tone and vowel marks, which are
    then dropped with every other combining or invisible formatting character; đ/Đ become
    d; case is folded; runs of any whitespace become one space.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"a name is text, got {type(text).__name__}")
    decomposed = unicodedata.normalize("NFKD", text).translate(_LETTERS_WITHOUT_DECOMPOSITION)
    kept = _VIETNAMESE_MARKS.sub("", decomposed)
    if not kept.isascii():  # marks of other scripts, zero-width characters: the slow, general way
        kept = "".join(
            char for char in kept if not unicodedata.combining(char) and unicodedata.category(char) != "Cf"
        )
    return " ".join(kept.casefold().split()) or None


class InvalidCitizenId(ValueError):
    """Not a citizen ID number. The message never repeats the input."""


def citizen_id(value: Any) -> str | None:
    """Digits only: 12 for a CCCD (citizen identity card), 9 for an old CMND.

    Spaces, dots and dashes people type between groups are dropped; full-width digits are
    folded (NFKC). The two kinds are different numbers and never match each other.
    """
    if value is None:
        return None
    if type(value) is str and len(value) in (9, 12) and value.isascii() and value.isdigit():
        return value  # already its own normal form (what the general path below returns for it)
    text = unicodedata.normalize("NFKC", str(value))
    digits = "".join(char for char in text if not char.isspace() and char not in ".-")
    if not digits:
        return None
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidCitizenId("a citizen ID number has only digits")
    if len(digits) not in (9, 12):
        raise InvalidCitizenId("a citizen ID number has 12 digits (CCCD) or 9 (old CMND)")
    return digits


@low_variety
def birth_date(value: Any) -> str | None:
    """ISO yyyy-mm-dd from a date, or from text as dd/mm/yyyy (Vietnamese order) or ISO."""
    if value is None:
        return None
    if isinstance(value, datetime):
        raise TypeError("a date of birth is a date, not a datetime")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    raise ValueError("a date of birth is written dd/mm/yyyy or yyyy-mm-dd")


def find(attribute: Any, *values: Any, where: Iterable[Any] = (), also_load: Iterable[Any] = (),
         session=None) -> list:
    """Rows whose indexed fields equal `values` after normalisation (never a false positive).

    `where` adds SQL criteria (a unit, a state). Two queries: the candidates' data keys,
    unwrapped together, then the candidates themselves as objects with only their source
    fields (and `also_load`; other fields load when first touched). With an index planned
    for its population a few candidates are not matches: they are dropped from the session
    again, unless the caller had already loaded them.
    """
    session = session or db.session
    index = index_field(attribute)
    keyring = current_keyring()
    # Two lengths while the index is being rebuilt (index_plans): rows not reached yet
    # still hold the old one.
    lengths = index_plans.widths(session, index.name, index.bits).all
    wanted_values = {compute_index(keyring, index, values, bits) for bits in lengths} - {None}
    if not wanted_values:
        return []
    model = attribute.class_
    primary_key = getattr(model, spec_for(model).pk)
    criteria = [attribute.in_(wanted_values) if len(wanted_values) > 1 else attribute == wanted_values.pop(),
                *where]
    wanted = [normalise(item) for normalise, item in zip(index.normalise, values, strict=True)]
    keyring.preload(session, select(model.data_key_id).where(*criteria))
    known = set(session.identity_map.keys())
    columns = [primary_key, model.data_key_id, *(getattr(model, source) for source in index.sources), *also_load]
    matched = []
    for candidate in session.scalars(select(model).where(*criteria).options(load_only(*columns))).all():
        found = [normalise(getattr(candidate, source)) for normalise, source in
                 zip(index.normalise, index.sources, strict=True)]
        if found == wanted:
            matched.append(candidate)
        elif inspect(candidate).identity_key not in known:
            session.expunge(candidate)  # a coincidence of the index: its values leave with it
    return matched
