"""Who is calling: the key a request carries and what it may do.

A write key is public (it ships in web pages): it may only send events. The secret
key stays on servers: it reads profiles, exports and administers. Keys travel as the
HTTP Basic user name (Segment's and RudderStack's convention), as a Bearer token, in
``X-Write-Key``, or as ``writeKey`` in a batch body.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["KeyKind", "Principal", "authenticate", "key_from_headers", "source_name"]


class KeyKind(enum.Enum):
    WRITE = "write"
    SECRET = "secret"  # noqa: S105 - an enum name, not a password


@dataclass(frozen=True, slots=True)
class Principal:
    kind: KeyKind
    source: str  # a stable, non-secret name of the key: what the event log stores

    @property
    def can_read(self) -> bool:
        return self.kind is KeyKind.SECRET


def source_name(key: str) -> str:
    return "k_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, _, password = decoded.partition(":")
            return user or password or None
        if scheme == "bearer":
            return value.strip() or None
    return headers.get("x-write-key") or headers.get("x-secret-key") or None


def authenticate(key: str | None, *, write_keys: Iterable[str], secret_key: str) -> Principal | None:
    """The principal a key stands for, or None; comparisons are constant-time."""
    if not key:
        return None
    if secret_key and hmac.compare_digest(key.encode(), secret_key.encode()):
        return Principal(KeyKind.SECRET, "secret")
    for candidate in write_keys:
        if hmac.compare_digest(key.encode(), candidate.encode()):
            return Principal(KeyKind.WRITE, source_name(candidate))
    return None
