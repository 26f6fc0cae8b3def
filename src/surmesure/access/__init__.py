"""Access: write keys (public, ingestion only) and the secret key (server side: read,
export, admin). Imports only the foundation."""

from surmesure.access.domain import KeyKind, Principal, authenticate

__all__ = ["KeyKind", "Principal", "authenticate"]
