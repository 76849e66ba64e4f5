"""The kernel's announcements, turned into audit entries in the same transaction."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from protection import signals
from protection.backup.format import BackupError
from protection.db import db

from . import signing
from .models import ChainHead
from .service import run_verification
from .targets import denied_target
from .trail import keys_dir, record, start_generation


def _on_sign_in_succeeded(_app, user, auth_session, **_):
    # Only once every step is done: "signed in" means fully signed in.
    record("auth.signed_in", target_type="user", target_id=user.id, actor=user,
           session=auth_session.id)


def _on_password_step_passed(_app, user, auth_session, next_step, **_):
    record("auth.password_ok", target_type="user", target_id=user.id, actor=user,
           session=auth_session.id, next=next_step)


def _on_sign_in_failed(_app, user, reason, **_):
    # The typed username of an unknown account is not recorded: people type their
    # password into the username field, and it would then sit in the trail.
    if user is None:
        record("auth.login.failed", outcome="failure", reason=reason)
    else:
        record("auth.login.failed", target_type="user", target_id=user.id, actor=user, outcome="failure",
               reason=reason)


def _on_account_locked(_app, user, **_):
    record("auth.lockout", target_type="user", target_id=user.id, actor=user, outcome="failure")


def _on_second_factor_failed(_app, user, reason="wrong_code", **_):
    record("auth.second_factor.failed", target_type="user", target_id=user.id, actor=user, outcome="failure",
           reason=reason)


def _on_recheck_failed(_app, user, purpose, reason, **_):
    record("auth.recheck.failed", target_type="user", target_id=user.id, actor=user, outcome="failure",
           purpose=purpose, reason=reason)


def _on_second_factor_changed(_app, user, change, by=None, **_):
    record(f"auth.second_factor.{change}", target_type="user", target_id=user.id, actor=by or user)


def _on_security_key_changed(_app, user, change, by=None, key_id=None, count=None, **_):
    detail = {"key": key_id} if key_id is not None else {"count": count}
    record(f"auth.security_key.{change}", target_type="user", target_id=user.id, actor=by or user, **detail)


def _on_security_key_used(_app, user, purpose, target, key_id, **_):
    record("auth.security_key.used", target_type="user", target_id=user.id, actor=user, purpose=purpose,
           record=target, key=key_id)


def _on_signed_out(_app, user, auth_session, reason, **_):
    record("auth.logout", target_type="user", target_id=user.id, actor=user, session=auth_session.id)


def _on_session_ended(_app, user, auth_session, reason, **_):
    record("auth.session.end", target_type="user", target_id=user.id, actor=user, reason=reason,
           session=auth_session.id if auth_session is not None else None)


def _on_password_changed(_app, user, by, **_):
    action = "auth.password.changed" if by is None or by.id == user.id else "auth.password.reset"
    record(action, target_type="user", target_id=user.id, actor=by)


def _on_user_changed(_app, user, by, change, fields=(), **_):
    record(f"user.{change}", target_type="user", target_id=user.id, actor=by, fields=list(fields))


def _on_unit_changed(_app, unit, by, change, fields=(), **_):
    record(f"unit.{change}", target_type="unit", target_id=unit.id, actor=by, fields=list(fields))


def _on_directory_request_changed(_app, request, by, change, **_):
    # Ids and the role only; the person's name is on the request row, not in the trail.
    record(f"directory_request.{change}", target_type="directory_request", target_id=request.id, actor=by,
           role=request.mapped_role.value, **({"user": str(request.user_id)} if request.user_id else {}))


def _on_access_denied(_app, user, permission, endpoint, status, view_args=None, **_):
    # The record asked for, when the URL names one: refused attempts then show in that
    # record's history ("who tried to open this dossier"). Ids only.
    target_type, target_id, other_ids = denied_target(view_args or {})
    record("access.denied", target_type=target_type, target_id=target_id, outcome="denied", actor=user,
           permission=permission, endpoint=endpoint, status=status, **other_ids)


def _on_api_token_refused(_app, client, reason, endpoint, **_):
    # The reason code, and the client when the token's id and secret matched one; never the
    # token, nor what was sent in its place.
    record("api_client.refused", target_type="api_client" if client is not None else None,
           target_id=client.id if client is not None else None, outcome="failure",
           actor=client.user if client is not None else None, reason=reason, endpoint=endpoint)


def _on_record_viewed(_app, target_type, target_id, action, **detail):
    record(action, target_type=target_type, target_id=target_id, **detail)


def _on_keys_changed(_app, operation, **detail):
    record(f"keys.{operation}", **detail)


def _on_restore_target_checking(_app, checkpoint_key):
    """Refuse a restore target whose trail has entries, or that cannot verify (and go on
    signing) the backup's checkpoints because it holds another signing key."""
    with db.engine.connect() as connection:
        head_seq = connection.execute(select(ChainHead.__table__.c.seq)).scalar()
        connection.rollback()
    if head_seq:
        raise BackupError("the target database is not empty: its audit trail has entries")
    if checkpoint_key is not None:
        public_key = signing.load_public_key(keys_dir())
        held = signing.key_id(public_key) if public_key is not None else None
        if held != checkpoint_key:
            raise BackupError(
                f"the backup's audit checkpoints are signed with key {checkpoint_key}, and this "
                f"instance holds {held or 'no audit signing key'}: copy {signing.PRIVATE_NAME} and "
                f"{signing.PUBLIC_NAME} from the backed-up instance's keys into {keys_dir()}")


def _on_backup_created(_app, **summary):
    record("backup.create", target_type="database", **summary)


def _on_restore_completed(_app, **detail):
    """Start a new generation of the trail, verify it, record the restore with the outcome,
    and hand the report back to the command that prints it.

    The new generation first: the restored database may be in another PostgreSQL cluster,
    whose transaction ids are lower than the ones the backup's entries carry. Entries recorded
    from now on belong to the new generation and are sequenced after every restored entry, the
    pending ones included (their transactions all ended before the backup was taken)."""
    start_generation()
    report = run_verification()
    record("backup.restore", target_type="database", **detail, verified=report.ok,
           entries=report.entries_checked)
    return report


CONNECTIONS = (
    (signals.sign_in_succeeded, _on_sign_in_succeeded),
    (signals.password_step_passed, _on_password_step_passed),
    (signals.sign_in_failed, _on_sign_in_failed),
    (signals.account_locked, _on_account_locked),
    (signals.second_factor_failed, _on_second_factor_failed),
    (signals.recheck_failed, _on_recheck_failed),
    (signals.second_factor_changed, _on_second_factor_changed),
    (signals.security_key_changed, _on_security_key_changed),
    (signals.security_key_used, _on_security_key_used),
    (signals.signed_out, _on_signed_out),
    (signals.session_ended, _on_session_ended),
    (signals.password_changed, _on_password_changed),
    (signals.user_changed, _on_user_changed),
    (signals.unit_changed, _on_unit_changed),
    (signals.directory_request_changed, _on_directory_request_changed),
    (signals.access_denied, _on_access_denied),
    (signals.api_token_refused, _on_api_token_refused),
    (signals.record_viewed, _on_record_viewed),
    (signals.keys_changed, _on_keys_changed),
    (signals.restore_target_checking, _on_restore_target_checking),
    (signals.backup_created, _on_backup_created),
    (signals.restore_completed, _on_restore_completed),
)


def connect_listeners(app: Flask) -> None:
    # Receivers are connected for this app only (sender=app), so several apps in one
    # process (tests) never write into each other's databases.
    for signal, receiver in CONNECTIONS:
        signal.connect(receiver, sender=app, weak=False)
