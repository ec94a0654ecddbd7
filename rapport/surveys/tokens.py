"""Survey link tokens.

An invitation token is "<invitation id>.<random secret>.<signature>". The signature (HMAC with the
site's secret key, django.core.signing) rejects a tampered token before any database work; the
database keeps only a SHA-256 hash of the secret, so a leaked database yields no working link. A
public (QR/link) token is a signed payload naming the survey and, optionally, the unit and channel:
never a client-chosen id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.core import signing

INVITATION_SALT = "rapport.surveys.invitation"
PUBLIC_SALT = "rapport.surveys.public-link"
SECRET_BYTES = 24


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def invitation_token(invitation_id: int, secret: str) -> str:
    return signing.Signer(salt=INVITATION_SALT, sep=".").sign(f"{invitation_id}.{secret}")


def read_invitation_token(token: str) -> tuple[int, str] | None:
    """(invitation id, secret) from a genuine token; None for anything tampered or malformed."""
    if len(token) > 200:
        return None
    try:
        value = signing.Signer(salt=INVITATION_SALT, sep=".").unsign(token)
    except signing.BadSignature:
        return None
    ident, _, secret = value.partition(".")
    if not ident.isdigit() or not secret:
        return None
    return int(ident), secret


def public_token(survey_id: int, unit_id: int | None = None, channel: str = "link") -> str:
    payload: dict[str, Any] = {"s": survey_id, "c": channel}
    if unit_id is not None:
        payload["u"] = unit_id
    # No timestamp: the same survey and unit always give the same link, so a printed QR code
    # and a re-rendered page agree.
    return signing.Signer(salt=PUBLIC_SALT).sign_object(payload)


def read_public_token(token: str) -> dict[str, Any] | None:
    """{"s": survey id, "c": channel, "u": unit id or absent}, or None when not genuine."""
    if len(token) > 300:
        return None
    try:
        payload = signing.Signer(salt=PUBLIC_SALT).unsign_object(token)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int):
        return None
    unit = payload.get("u")
    if unit is not None and not isinstance(unit, int):
        return None
    if payload.get("c") not in {"link", "qr", "widget"}:
        return None
    return payload
