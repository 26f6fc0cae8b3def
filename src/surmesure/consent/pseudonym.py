"""Pseudonymized collection and data minimization (``[privacy]`` settings, docs/privacy.md).

With ``privacy.pseudonymize`` on, an event's personal identifiers — ``userId``,
``anonymousId``, ``previousId``, ``traits.email`` and ``context.traits.email``, and the
configured external-id paths — are replaced before anything is stored by a keyed
pseudonym: ``p<version>:`` and 26 base32 characters (the first 128 bits of
HMAC-SHA256). The version names the key, so a key can be rotated and the values made
under an older one still found. Emails are lower-cased and trimmed first. Placeholders
(``"null"``, ``"0"``...) are kept: they name nobody and must never link identities.

With ``[privacy.minimize]`` lists, the ``properties``, ``traits`` (also
``context.traits``) and ``context`` of an event keep only the fields declared there,
plus the technical fields the platform itself reads (:data:`ALWAYS_KEPT`) and the
identifier paths. An entry is a field name (kept whole) or a dotted path (that leaf
only: ``page.path``).

Pure; imports only the foundation. Collection (``events``) and look-ups
(``profiles.service.candidate_keys``) use the same :class:`Pseudonymizer`, built once
by :meth:`Pseudonymizer.from_settings` (None when both features are off: no cost).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from surmesure.config import Settings
from surmesure.errors import ConfigError
from surmesure.ids import is_placeholder, normalize_email

__all__ = ["ALWAYS_KEPT", "Pseudonymizer", "is_pseudonym", "pseudonym"]

#: fields every event keeps under minimization, whatever is declared: what features,
#: recommendations, decisions and consent read (identifiers are added from the settings)
ALWAYS_KEPT: Mapping[str, tuple[str, ...]] = {
    "properties": (
        "product_id", "products", "items", "item_ids", "category", "brand", "price", "quantity",
        "revenue", "total", "order_id", "decision_id",
    ),
    "traits": ("email",),
    "context": ("consent", "gpc", "globalPrivacyControl", "ip", "timezone", "channel", "traits"),
}  # fmt: skip
_IDS = ("userId", "anonymousId", "previousId")
_EMAILS: tuple[tuple[str, ...], ...] = (("traits", "email"), ("context", "traits", "email"))
#: the top-level fields of an event (what normalization keeps); a refused item keeps no other
_EVENT_FIELDS = frozenset(
    {
        "type", "messageId", "event", "name", "category", "userId", "anonymousId", "previousId",
        "groupId", "timestamp", "originalTimestamp", "sentAt", "properties", "traits", "context",
        "integrations",
    }
)  # fmt: skip
_PSEUDONYM = re.compile(r"p[0-9]{1,3}:[a-z2-7]{26}")
_CACHE = 65_536
_Tree = dict[str, Any]  # a field name -> True (kept whole) or the sub-tree of the paths kept below it


def pseudonym(key: bytes, version: int, value: str) -> str:
    """``p<version>:`` and the base32 of the first 128 bits of HMAC-SHA256(key, value)."""
    digest = hmac.new(key, b"surmesure/pseudonym\x00" + value.encode(), hashlib.sha256).digest()
    return f"p{version}:" + base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def is_pseudonym(value: object) -> bool:
    """True for a value made by :func:`pseudonym` (it is looked up as it is)."""
    return isinstance(value, str) and _PSEUDONYM.fullmatch(value) is not None


def _key_of(settings: Settings, version: int) -> bytes:
    given = settings.privacy.pseudonym_keys.get(version)
    if given is not None:
        secret = given.get_secret_value()
        if len(secret) < 16:
            raise ConfigError(
                f"privacy.pseudonym_keys: the key of version {version} needs 16 characters or more",
                setting="privacy.pseudonym_keys",
            )
        return secret.encode()
    if version != 1:
        raise ConfigError(
            f"privacy.pseudonym_version is {version} but privacy.pseudonym_keys has no key for it",
            setting="privacy.pseudonym_keys",
        )
    # version 1 by default: a key derived from identity.hash_key, for pseudonyms only
    base = settings.identity.hash_key.get_secret_value().encode()
    return hmac.new(base, b"surmesure/pseudonym-key/v1", hashlib.sha256).digest()


def _tree(paths: Iterable[str]) -> _Tree:
    tree: _Tree = {}
    for path in paths:
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.get(part)
            if child is True:
                break  # an ancestor is kept whole
            node = node.setdefault(part, {})
        else:
            node[leaf] = True
    return tree


def _keep(obj: Mapping[str, Any], tree: _Tree) -> dict[str, Any]:
    """A copy of ``obj`` with only the fields of ``tree``; nothing shared is modified."""
    out: dict[str, Any] = {}
    for name, value in obj.items():  # an event's objects are small: walk them, not the tree
        sub = tree.get(name)
        if sub is None:
            continue
        if sub is True:
            out[name] = value
        elif isinstance(value, dict):
            kept = _keep(value, sub)
            if kept:
                out[name] = kept
    return out


@dataclass(frozen=True, eq=False)
class Pseudonymizer:
    """Keyed pseudonyms (when ``keys`` is not empty; the first is current) and the
    minimization of undeclared fields (when ``trees`` is not empty)."""

    keys: tuple[tuple[int, bytes], ...] = ()
    #: external-id paths (``("traits", "crm_id")``) whose values are pseudonymized
    external: tuple[tuple[str, ...], ...] = ()
    #: ``properties`` / ``traits`` / ``context``: the fields kept (absent: all kept)
    trees: Mapping[str, _Tree] = field(default_factory=dict)
    _cache: dict[str, str] = field(default_factory=dict, repr=False)
    _emails: dict[str, str] = field(default_factory=dict, repr=False)
    _lookups: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Pseudonymizer | None:
        """The deployment's pseudonymizer; None when neither feature is on."""
        privacy = settings.privacy
        keys: tuple[tuple[int, bytes], ...] = ()
        if privacy.pseudonymize:
            current = privacy.pseudonym_version
            others = sorted({1, *privacy.pseudonym_keys} - {current}, reverse=True)
            keys = tuple((v, _key_of(settings, v)) for v in (current, *others))
        external = tuple(tuple(path.split(".")) for x in settings.identity.external_ids for path in x.paths)
        trees: dict[str, _Tree] = {}
        for part in ALWAYS_KEPT:
            names = privacy.minimize.get(part)  # type: ignore[call-overload]
            if names is None:
                continue
            own = [p[1:] for p in external if p[0] == part and len(p) > 1]
            ctx = [p[2:] for p in external if p[:2] == ("context", part) and len(p) > 2]
            trees[part] = _tree([*ALWAYS_KEPT[part], *names, *(".".join(p) for p in own + ctx)])
        if not keys and not trees:
            return None
        return cls(keys, external, trees)

    # -- pseudonyms --------------------------------------------------------------------
    def hash(self, value: str) -> str:
        """The current pseudonym of a raw identifier (cached: ids repeat)."""
        found = self._cache.get(value)
        if found is None:
            version, key = self.keys[0]
            found = pseudonym(key, version, value)
            if len(self._cache) >= _CACHE:
                self._cache.clear()
            self._cache[value] = found
        return found

    def lookups(self, value: str) -> list[str]:
        """What a raw identifier may be stored as: its pseudonym under every key version,
        the current first; a value that already is a pseudonym stands for itself."""
        found = self._lookups.get(value)
        if found is None:
            found = (value,) if is_pseudonym(value) else tuple(pseudonym(k, v, value) for v, k in self.keys)
            if len(self._lookups) >= _CACHE:
                self._lookups.clear()
            self._lookups[value] = found
        return list(found)

    def email_lookups(self, email: str) -> list[str]:
        """:meth:`lookups` of an email address, as collection hashes it (none for a value
        that is no address)."""
        value = email.strip()
        if is_pseudonym(value):
            return [value]
        address = normalize_email(value)
        return self.lookups(address) if address else []

    def _value(self, value: Any) -> Any:
        if type(value) is str and (found := self._cache.get(value)) is not None:
            return found  # the common case: an id seen before
        if isinstance(value, bool) or not isinstance(value, str | int) or is_placeholder(value):
            return value
        return value if is_pseudonym(value) else self.hash(str(value))

    # -- an event ----------------------------------------------------------------------
    def event(self, body: dict[str, Any]) -> dict[str, Any]:
        """The event as it may be stored: undeclared fields dropped, identifiers hashed.
        ``body`` is a fresh top-level dict (it is updated); nested objects are copied,
        never modified (a batch's context is shared by its events)."""
        for part, tree in self.trees.items():
            value = body.get(part)
            if value is None:
                continue
            kept = _keep(value, tree) if isinstance(value, dict) else {}
            if part == "context" and isinstance(kept.get("traits"), dict) and "traits" in self.trees:
                kept["traits"] = _keep(kept["traits"], self.trees["traits"])
            elif part == "traits" and "context" not in self.trees:
                ctx = body.get("context")
                if isinstance(ctx, dict) and isinstance(ctx.get("traits"), dict):
                    body["context"] = {**ctx, "traits": _keep(ctx["traits"], tree)}
            if kept:
                body[part] = kept
            else:
                body.pop(part)
        if not self.keys:
            return body
        for name in _IDS:
            if name in body:
                body[name] = self._value(body[name])
        for path in _EMAILS:
            _replace(body, path, self._email)
        for path in self.external:
            _replace(body, path, self._value)
        return body

    def _email(self, value: Any) -> Any:
        if type(value) is str and (found := self._emails.get(value)) is not None:
            return found
        if not isinstance(value, str) or is_placeholder(value.strip()) or is_pseudonym(value):
            return value
        address = normalize_email(value)
        if address is None:
            return None  # not an address: never an identifier, and not kept in clear
        found = self.hash(address)
        if len(self._emails) >= _CACHE:
            self._emails.clear()
        self._emails[value] = found
        return found

    def refused(self, item: Any) -> str:
        """What the quarantine keeps of a refused item: its event fields, minimized and
        pseudonymized like a stored event; nothing of an item that is not an object."""
        if not isinstance(item, dict):
            return ""
        body = {k: v for k, v in item.items() if k in _EVENT_FIELDS}
        for part in ("properties", "traits", "context"):
            if part in body and not isinstance(body[part], dict):
                del body[part]  # not an object: nothing in it can be told apart
        try:
            return orjson.dumps(self.event(body)).decode()
        except TypeError:
            return ""


def _replace(body: dict[str, Any], path: tuple[str, ...], fn: Callable[[Any], Any]) -> None:
    """Replace the value at ``path`` by ``fn(value)``; the nested objects on the way are
    copied, not modified (``body`` itself is the caller's fresh dict)."""
    chain = [body]
    for part in path[:-1]:
        node = chain[-1].get(part)
        if not isinstance(node, dict):
            return
        chain.append(node)
    leaf = path[-1]
    value = chain[-1].get(leaf)
    if value is None:
        return
    new = fn(value)
    if new is value:
        return
    if len(path) == 1:
        body[leaf] = new
        return
    copied: dict[str, Any] = {**chain[-1], leaf: new}
    for depth in range(len(path) - 2, 0, -1):
        copied = {**chain[depth], path[depth]: copied}
    body[path[0]] = copied
