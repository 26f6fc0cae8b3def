"""Signed, expiring links to a person's preference centre (ADR 0010).

A link names one person (their profile id, or, before they have one, their anonymous
id) and an expiry, signed with HMAC-SHA256 under a key derived from
``identity.hash_key`` for this use only. Made server-side (the secret key's API, or
the demo shop's server), it is the only way to open the page: guessing an id gives
nothing without the signature, and an old link stops working when it expires. Pure:
no I/O.

``v1.<payload>.<signature>``, both parts base64url without padding; the payload is
``{"s": "profile_id:…" | "anonymous_id:…", "e": <expiry, ms since the epoch>}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import orjson

from surmesure.errors import Forbidden

__all__ = ["LinkExpired", "LinkInvalid", "link_key", "sign", "verify"]

_VERSION = "v1"
_SUBJECT_TYPES = ("profile_id", "anonymous_id")


class LinkInvalid(Forbidden):
    code = "preferences.link_invalid"


class LinkExpired(Forbidden):
    code = "preferences.link_expired"


def link_key(hash_key: str) -> bytes:
    """The signing key: derived from ``identity.hash_key``, for preference links only."""
    return hmac.new(hash_key.encode(), b"surmesure/preference-link/v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, f"{_VERSION}.{payload}".encode(), hashlib.sha256).digest())


def sign(key: bytes, subject: str, expires_ms: int) -> str:
    """A link token for ``subject`` (``profile_id:…`` or ``anonymous_id:…``)."""
    if subject.split(":", 1)[0] not in _SUBJECT_TYPES or ":" not in subject:
        raise ValueError(f"a preference link names a profile id or an anonymous id, not {subject!r}")
    payload = _b64(orjson.dumps({"s": subject, "e": int(expires_ms)}))
    return f"{_VERSION}.{payload}.{_mac(key, payload)}"


def verify(key: bytes, token: str, now_ms: int) -> str:
    """The subject of a genuine, unexpired token; else :class:`LinkInvalid` or
    :class:`LinkExpired` (checked in that order: an altered link is never "expired")."""
    parts = token.strip().split(".") if isinstance(token, str) and len(token) <= 1024 else []
    if len(parts) != 3 or parts[0] != _VERSION:
        raise LinkInvalid("this link is not a preference-centre link: ask for a new one")
    _, payload, signature = parts
    if not hmac.compare_digest(_mac(key, payload).encode(), signature.encode()):
        raise LinkInvalid("this link's signature does not match: it was altered or made with another key")
    try:
        data = orjson.loads(_unb64(payload))
        subject, expires = str(data["s"]), int(data["e"])
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise LinkInvalid("this link cannot be read: ask for a new one") from None
    if subject.split(":", 1)[0] not in _SUBJECT_TYPES:
        raise LinkInvalid("this link names nobody: ask for a new one")
    if now_ms >= expires:
        raise LinkExpired("this link has expired: ask for a new one", expired_ms=expires)
    return subject
