"""Every place where the layers above plug into the kernel, and the one registry for hooks.

The kernel never imports ``audit`` or ``cases``. It offers two kinds of plug points, both
wired per app by the upper layers' ``configure_*`` step (``audit/setup.py``,
``cases/setup.py``), so several apps in one process (tests) never share them.

Hooks: the kernel calls a function and uses its answer
------------------------------------------------------
Registered with ``hooks.register(app, hooks.NAME, function)``; the kernel asks
``hooks.get(app, NAME)`` (a single hook: the function, or None when nothing registered)
or ``hooks.every(app, NAME)`` (a hook that takes many: the functions, in order).

=================  ======  ===================================  =================================
hook               takes   called by                            registered by
=================  ======  ===================================  =================================
BACKUP_CHECKS      many    backup.verify (`backup verify`): ()  audit/setup.py:
                           -> a checker fed the rows of the     audit.backup_check.TrailCheck
                           tables it names, answering with a
                           backup.verify.BackupCheck
CITIZEN_INDEX      one     accounts.set_citizen_id: a citizen   cases/setup.py:
                           ID number -> the dossiers' blind     cases.access.operations
                           index of it (ValueError if invalid)  .citizen_index
DEMO_SEEDERS       many    demo.run_domain_seeders (`flask      cases/setup.py, in order:
                           demo`): () -> lines to print         cases.demo.notifications,
                                                                cases.demo.seed, cases.demo.campaign
DOCTOR_CHECKS      many    doctor.run_checks (`flask doctor`):  audit/setup.py:
                           (app) -> a doctor.Result or a list   audit.health.audit_sequencing,
                           of them                              audit.health.audit_checkpoint
READINESS_CHECKS   many    doctor.readiness (/readyz): (app)    audit/setup.py:
                           -> {check name: ready?}              audit.health.ready
METRIC_READINGS    many    metrics (/metrics, when scraped):    audit/setup.py: audit.metrics
                           () -> protection.metrics.Reading     .audit_readings; cases/setup.py:
                           gauges (fixed-vocabulary labels)     cases.notifications.service
                                                                .mail_readings
UNREAD_COUNT       one     sessions.resolve_session: the user   cases/setup.py:
                           id column -> SQL counting their      cases.notifications.service
                           unread notifications (asked in the   .unread_filter
                           sign-in query: the bell's count)
=================  ======  ===================================  =================================

Signals: the kernel announces, and does not wait for an answer
--------------------------------------------------------------
Blinker signals in ``protection/signals.py`` (what each sends is noted there). Receivers
are connected with ``sender=app``, except ``data_key_destroying`` (sent with no sender):

* sign-in and accounts: ``sign_in_succeeded``, ``password_step_passed``,
  ``sign_in_failed``, ``account_locked``, ``second_factor_failed``, ``recheck_failed``,
  ``second_factor_changed``, ``signed_out``, ``session_ended``, ``password_changed``,
  ``user_changed``, ``unit_changed``; requests and reads: ``access_denied``, ``api_token_refused``,
  ``record_viewed``; keys: ``keys_changed``. Subscriber: ``audit/listeners.py``, which
  records each in the audit trail, in the same transaction.
* backups of the audit trail: ``restore_target_checking``, ``backup_created``,
  ``restore_completed``. Subscriber: ``audit/listeners.py`` (checks the trail's head and
  checkpoint key, records the backup, verifies the restored trail).
* what a layer keeps outside the database (the purge ledger): ``instance_initialised``,
  ``backup_starting``, ``restore_checking``, ``restore_loaded``. Subscriber:
  ``cases/retention`` (``configure_retention``).
* crypto-shredding: ``data_key_destroying``. Subscriber: ``cases/subjects/name_search.py``
  (a dossier's word index goes with its key).

Flask-Login's own signals (``user_logged_in`` and friends) are not used: the kernel sends
the ones above, which carry the session and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

_EXTENSION = "hoso.hooks"


@dataclass(frozen=True)
class Hook:
    """A named plug point; `many` when several layers may each register a function."""

    name: str
    many: bool = False


BACKUP_CHECKS = Hook("backup_checks", many=True)
CITIZEN_INDEX = Hook("citizen_index")
DEMO_SEEDERS = Hook("demo_seeders", many=True)
DOCTOR_CHECKS = Hook("doctor_checks", many=True)
READINESS_CHECKS = Hook("readiness_checks", many=True)
METRIC_READINGS = Hook("metric_readings", many=True)
UNREAD_COUNT = Hook("unread_count")


def _registry(app: Flask) -> dict[str, Any]:
    return app.extensions.setdefault(_EXTENSION, {})


def register(app: Flask, hook: Hook, function: Callable[..., Any]) -> None:
    registry = _registry(app)
    if hook.many:
        registry.setdefault(hook.name, []).append(function)
    elif hook.name in registry:
        raise RuntimeError(f"the {hook.name} hook is already registered for this app")
    else:
        registry[hook.name] = function


def get(app: Flask, hook: Hook) -> Callable[..., Any] | None:
    """The function registered for a single hook, or None."""
    if hook.many:
        raise TypeError(f"the {hook.name} hook takes many functions: use every()")
    return _registry(app).get(hook.name)


def every(app: Flask, hook: Hook) -> list[Callable[..., Any]]:
    """The functions registered for a hook that takes many, in the order registered."""
    if not hook.many:
        raise TypeError(f"the {hook.name} hook takes one function: use get()")
    return list(_registry(app).get(hook.name, ()))
