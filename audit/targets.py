"""What an entry's target is, for people: the kinds of record the trail names, how each is
shown (a case's reference, a user's username: never a protected value such as a name),
how a typed reference or username is turned back into the id the trail stores, and which
URL argument names one (so a refusal records the record that was asked for).

The audit layer knows users and units (the kernel's); the domain registers its own kinds
(cases/audit_targets.py) with `register_target_kind`, as it registers its demo seeders.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select

from protection.db import db
from protection.identity import DirectoryRequest, Unit, User

_REGISTRY = "hoso.audit_targets"


class TargetLookupError(ValueError):
    """A typed target that names nothing, or is not written as one; the message is for the
    form field and holds only what was typed (a reference or username, never protected)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class TargetKind:
    name: str  # the target_type the trail records
    label: Any  # lazily translated
    # The URL argument that names one such record (`case_id` in /cases/<case_id>/...).
    url_arg: str | None = None
    # ids -> the text shown for them (reference, username, code). Only plain columns.
    describe: Callable[[Collection[uuid.UUID]], Mapping[uuid.UUID, str]] | None = None
    # A typed reference or username -> the id, or TargetLookupError.
    lookup: Callable[[str], uuid.UUID] | None = None
    # Whether a text typed without a target type is this kind's reference (BVCT-...).
    claims: Callable[[str], bool] | None = None


def register_target_kind(app: Flask, kind: TargetKind) -> None:
    app.extensions.setdefault(_REGISTRY, {})[kind.name] = kind


def target_kinds() -> dict[str, TargetKind]:
    return current_app.extensions.get(_REGISTRY, {})


def kind_label(name: str | None) -> Any:
    kind = target_kinds().get(name or "")
    return kind.label if kind is not None else name


# --- the kernel's kinds ----------------------------------------------------------------------

def _usernames(ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def user_id_for(username: str) -> uuid.UUID | None:
    return db.session.scalar(select(User.id).where(User.username == username.strip().lower()))


def _user_lookup(text: str) -> uuid.UUID:
    found = user_id_for(text)
    if found is None:
        raise TargetLookupError(_l("Không có người dùng nào có tên đăng nhập %(username)s.", username=text))
    return found


def _unit_codes(ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(db.session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(ids))).all())


def _unit_lookup(text: str) -> uuid.UUID:
    found = db.session.scalar(select(Unit.id).where(Unit.code == text.strip().upper()))
    if found is None:
        raise TargetLookupError(_l("Không có đơn vị nào có mã %(code)s.", code=text))
    return found


def _directory_usernames(ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(db.session.execute(select(DirectoryRequest.id, DirectoryRequest.username)
                                   .where(DirectoryRequest.id.in_(ids))).all())


def configure_target_kinds(app: Flask) -> None:
    kinds = (
        TargetKind("user", lazy_pgettext("audit target", "Người dùng"), url_arg="user_id",
                   describe=_usernames, lookup=_user_lookup),
        TargetKind("unit", lazy_pgettext("audit target", "Đơn vị"), describe=_unit_codes, lookup=_unit_lookup),
        TargetKind("directory_request", lazy_pgettext("audit target", "Người dùng thư mục"),
                   url_arg="directory_request_id", describe=_directory_usernames),
        TargetKind("audit_log", lazy_pgettext("audit target", "Nhật ký kiểm toán")),
        TargetKind("database", lazy_pgettext("audit target", "Cơ sở dữ liệu")),
        TargetKind("report", lazy_pgettext("audit target", "Báo cáo thống kê")),
    )
    for kind in kinds:
        register_target_kind(app, kind)


# --- a refusal's target ----------------------------------------------------------------------

def denied_target(view_args: Mapping[str, Any]) -> tuple[str | None, str | None, dict[str, str]]:
    """(target_type, target_id, other ids) for a refused URL: the first argument of the path
    that names a known kind of record (the outermost: /cases/<case_id>/unassign/<user_id>
    is about the case), or an `<x>_type`/`<x>_id` pair (/classified/<item_type>/<item_id>).
    The other ids of the path go into the detail, as `attachment`, `conclusion`, ...

    Only ids: a URL's arguments are identifiers and converters (uuid, any(...)) have
    checked them, so no typed text can reach the trail this way."""
    by_arg = {kind.url_arg: kind.name for kind in target_kinds().values() if kind.url_arg}
    target_type = target_id = None
    others: dict[str, str] = {}
    for name, value in view_args.items():
        if not isinstance(value, uuid.UUID):
            continue
        paired = view_args.get(name.removesuffix("_id") + "_type") if name.endswith("_id") else None
        kind = by_arg.get(name) or (paired if isinstance(paired, str) else None)
        if target_type is None and kind is not None:
            target_type, target_id = kind, str(value)
        else:
            others[name.removesuffix("_id")] = str(value)
    return target_type, target_id, others


# --- reading the trail -----------------------------------------------------------------------

def describe_targets(pairs: Iterable[tuple[str | None, str | None]],
                     known: Mapping[str, Mapping[uuid.UUID, str]] | None = None) -> dict[tuple[str, str], str]:
    """(target_type, target_id) -> the text shown for it, one query per kind; a kind whose
    texts the caller already has (`known`, e.g. the usernames it looked up with the actors')
    costs no query."""
    wanted: dict[str, dict[uuid.UUID, str]] = {}
    for target_type, target_id in pairs:
        if not target_type or not target_id:
            continue
        try:
            wanted.setdefault(target_type, {})[uuid.UUID(target_id)] = target_id
        except ValueError:
            continue  # not every target id is a UUID (counts, codes): shown as stored
    shown: dict[tuple[str, str], str] = {}
    kinds = target_kinds()
    for target_type, ids in wanted.items():
        kind = kinds.get(target_type)
        if kind is None or kind.describe is None:
            continue
        given = (known or {}).get(target_type)
        found = given if given is not None else kind.describe(list(ids))
        for found_id, target_id in ids.items():
            if found_id in found:
                shown[(target_type, target_id)] = found[found_id]
    return shown


def user_targets(pairs: Iterable[tuple[str | None, str | None]]) -> set[uuid.UUID]:
    """The ids of the users among these targets."""
    found = set()
    for target_type, target_id in pairs:
        if target_type == "user" and target_id:
            try:
                found.add(uuid.UUID(target_id))
            except ValueError:
                continue
    return found


def resolve_target(target_type: str | None, text: str) -> tuple[str | None, str]:
    """The (target_type, target_id) a typed target means: an id as it is, a reference or a
    username turned into its id. Raises TargetLookupError for one that names nothing."""
    text = text.strip()
    try:
        return target_type, str(uuid.UUID(text))
    except ValueError:
        pass
    kinds = target_kinds()
    if target_type:
        kind = kinds.get(target_type)
        if kind is not None and kind.lookup is not None:
            return target_type, str(kind.lookup(text))
        return target_type, text
    for kind in kinds.values():
        if kind.claims is not None and kind.lookup is not None and kind.claims(text):
            return kind.name, str(kind.lookup(text))
    return None, text
