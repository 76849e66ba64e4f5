"""What the kernel announces. `audit` subscribes; the kernel never imports it.

Who subscribes to which signal, and the hooks the kernel calls: protection/hooks.py.

Blinker calls receivers synchronously, inside the request's transaction, so an audit
entry written by a receiver commits or rolls back with the action it describes.
Receivers get only identifiers and names, never a protected value.
"""

from blinker import Namespace

_signals = Namespace()

# Fully signed in: password, second factor and any forced password change done.
sign_in_succeeded = _signals.signal("sign-in-succeeded")  # sender: app; user, auth_session
# The password was right; next_step ("second_factor", "enrolment", "password_change") remains.
password_step_passed = _signals.signal("password-step-passed")  # user, auth_session, next_step
sign_in_failed = _signals.signal("sign-in-failed")  # user (or None), reason
account_locked = _signals.signal("account-locked")  # user
signed_out = _signals.signal("signed-out")  # user, auth_session, reason
session_ended = _signals.signal("session-ended")  # user, auth_session, reason
second_factor_failed = _signals.signal("second-factor-failed")  # user, reason
# A signed-in user's password or code re-check refused (wrong, reused code, rate limit).
recheck_failed = _signals.signal("recheck-failed")  # user, purpose, reason
second_factor_changed = _signals.signal("second-factor-changed")  # user, change
# Security keys (issue 23): change is "registered", "removed" or "reset" (all of a user's keys,
# by an admin); key_id or count. A key used: purpose ("sign_in", "conclusion_approval"...),
# target (the approved record's id, or None), key_id. Refused keys go out as
# second_factor_failed (at sign-in) or recheck_failed (at an approval) with a "key_" reason.
security_key_changed = _signals.signal("security-key-changed")  # user, change, by, key_id, count
security_key_used = _signals.signal("security-key-used")  # user, purpose, target, key_id
password_changed = _signals.signal("password-changed")  # user, by
user_changed = _signals.signal("user-changed")  # user, by, change, fields
unit_changed = _signals.signal("unit-changed")  # unit, by, change, fields
# A directory user's request for a Hoso account (issue 23): change is "created" (their first
# sign-in, by None), "confirmed" (with the user made) or "refused" (by the admin).
directory_request_changed = _signals.signal("directory-request-changed")  # request, by, change
access_denied = _signals.signal("access-denied")  # user, permission, endpoint, status, view_args
# A partner API call whose bearer token was refused (issue 21): client (None when no client
# matched), reason (a code: missing, unknown, expired...), endpoint. Never the token.
api_token_refused = _signals.signal("api-token-refused")
# A read of protected or personal data by the kernel (e.g. an admin opening a user):
# target_type, target_id, action, plus identifier-only detail.
record_viewed = _signals.signal("record-viewed")
# A key or index operation (rotate-master, rekey, reindex), one per transaction it commits:
# operation ("reindex.batch", ...), plus identifier-only detail (ids, counts, lengths).
keys_changed = _signals.signal("keys-changed")
# `init` made or checked the instance's keys: upper layers create the key files they own
# (so key backups taken at install time hold them). Receivers return a line to print.
instance_initialised = _signals.signal("instance-initialised")  # keys_dir
# Backups and restores. The kernel copies the database; what an upper layer keeps outside
# it (the purge ledger) takes part through these. Receivers refuse with BackupError.
backup_starting = _signals.signal("backup-starting")  # receivers return {name: anchor} for the header
restore_checking = _signals.signal("restore-checking")  # anchors, never_purged: refuse before any row
# Rows committed: receivers (given progress_bar(label, length)) return (line to print, detail).
restore_loaded = _signals.signal("restore-loaded")
# The audit trail's part in backups, announced so the kernel never imports audit:
# before any row, receivers refuse a target whose trail is not empty or whose checkpoint
# signing key is not the backup's (BackupError); after a backup is written or restored,
# receivers record it, and on restore return the trail's verification report.
restore_target_checking = _signals.signal("restore-target-checking")  # checkpoint_key
backup_created = _signals.signal("backup-created")  # tables, rows, bytes, revision
restore_completed = _signals.signal("restore-completed")  # rows, tables, revision, ledger detail
# Sent by fields.destroy_data_key before the rows lose their key: upper layers delete what
# they derived from those rows' plaintext (a name's word index). session, data_key_id.
data_key_destroying = _signals.signal("data-key-destroying")
