"""Identifiers: new ids, placeholder detection, keyed hashing of personal identifiers."""

from __future__ import annotations

import hashlib
import hmac
import uuid

__all__ = ["is_placeholder", "keyed_hash", "new_id", "normalize_email"]

_PLACEHOLDERS = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "undefined",
        "anonymous",
        "unknown",
        "nan",
        "0",
        "-1",
        "n/a",
        "na",
        "test",
        "[object object]",
        "00000000-0000-0000-0000-000000000000",
    }
)
_ZERO_CHARS = "0-_.: "
_LONGEST_PLACEHOLDER = max(len(p) for p in _PLACEHOLDERS)


def new_id() -> str:
    """A random, URL-safe, 32-character identifier."""
    return uuid.uuid4().hex


def is_placeholder(value: object) -> bool:
    """True for values that must never link identities ("null", "0", all-zero ids...)."""
    if value is None:
        return True
    text = (value if isinstance(value, str) else str(value)).strip()
    # all zeros and separators ("0000", "00000000-0000-...", "0.0"); str.strip runs in C
    if not text.strip(_ZERO_CHARS):
        return True
    return len(text) <= _LONGEST_PLACEHOLDER and text.lower() in _PLACEHOLDERS


def normalize_email(value: str) -> str | None:
    email = value.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or is_placeholder(email):
        return None
    return email


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA256 of a personal identifier, hex; the key lives apart from the store."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
