"""Ed25519 signatures on approved conclusions: the server signs the content, the approver
and the time, so a changed row in the database no longer verifies.

The key is the instance's own (instance/keys/conclusion-signing.key), apart from the audit
checkpoint key, so either can be rotated or revoked alone.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature

from audit import signing
from audit.trail import keys_dir

PRIVATE_NAME = "conclusion-signing.key"
PUBLIC_NAME = "conclusion-signing.pub"


def signed_content(conclusion, case) -> bytes:
    """Canonical JSON of what the signature vouches for."""
    content = {
        "v": 1,
        "case": case.reference,
        "conclusion": str(conclusion.id),
        "version": conclusion.version_number,
        "previous": str(conclusion.previous_id) if conclusion.previous_id else None,
        "outcome": conclusion.outcome,
        "eligible": conclusion.admission_eligible,
        "reasoning": conclusion.reasoning,
        "document_number": conclusion.document_number,
        "valid_until": conclusion.valid_until.isoformat() if conclusion.valid_until else None,
        "approver": str(conclusion.approver_id),
        "approved_at": conclusion.approved_at.isoformat(timespec="microseconds"),
    }
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(conclusion, case) -> tuple[str, str]:
    """(signature as base64url, key id)."""
    key = signing.ensure_signing_key(keys_dir(), PRIVATE_NAME, PUBLIC_NAME)
    signature = key.sign(signed_content(conclusion, case))
    return base64.urlsafe_b64encode(signature).decode("ascii"), signing.key_id(key.public_key())


def verify(conclusion, case) -> bool:
    if not conclusion.signature:
        return False
    public_key = signing.load_public_key(keys_dir(), PRIVATE_NAME, PUBLIC_NAME)
    if public_key is None or signing.key_id(public_key) != conclusion.signing_key_id:
        return False
    try:
        public_key.verify(base64.urlsafe_b64decode(conclusion.signature), signed_content(conclusion, case))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_value(conclusion) -> str:
    """A short value to compare on paper and on screen: the first 16 hex digits of the
    signature's SHA-256, grouped in fours."""
    digest = hashlib.sha256((conclusion.signature or "").encode("ascii")).hexdigest()[:16].upper()
    return " ".join(digest[i:i + 4] for i in range(0, 16, 4))
