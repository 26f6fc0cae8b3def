"""The identity graph, as a pure function of the facts: who is one person.

Identifiers are strings ``type:value`` (``user_id:42``, ``anonymous_id:abc``,
``email:<keyed hash>``, ``crm_id:...``, ``device_id:...``). Every event links the
identifiers it carries; an ``alias`` links ``previousId`` (as an anonymous id) to
``userId``. Profiles are the groups of :func:`resolve`:

* links are taken in a total order that does not depend on arrival — the event's
  time, then its messageId — and joined with union-find;
* a join is refused when the group would exceed a per-type cap (one user id per
  person; a few emails; one CRM id...), so a device shared by two known users
  never fuses them: it stays with the user who used it first;
* a join is refused when a *separation* forbids it (an undone merge);
* placeholder values ("null", "0", all-zero ids...) never become identifiers.

Because the result depends only on the *set* of links, the final profiles do not
depend on the order events arrive in (``tests/profiles/test_identity.py`` checks it
with Hypothesis).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from surmesure.consent.pseudonym import is_pseudonym
from surmesure.ids import is_placeholder, keyed_hash, normalize_email

__all__ = [
    "Caps",
    "EventIds",
    "Link",
    "Resolution",
    "event_identifiers",
    "key_type",
    "resolve",
]

USER, ANON, EMAIL = "user_id", "anonymous_id", "email"


def key_type(key: str) -> str:
    return key.split(":", 1)[0]


class Link(NamedTuple):
    """Two identifiers seen together, first at (``ts_ms``, ``message_id``).

    A named tuple, not a frozen dataclass: several are made per event, and a frozen
    dataclass's ``__init__`` costs three times as much."""

    a: str
    b: str
    ts_ms: int
    message_id: str

    @staticmethod
    def of(x: str, y: str, ts_ms: int, message_id: str) -> Link:
        a, b = (x, y) if x <= y else (y, x)
        return Link(a, b, ts_ms, message_id)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.a, self.b)

    @property
    def order(self) -> tuple[int, str, str, str]:
        return (self.ts_ms, self.message_id, self.a, self.b)


@dataclass(frozen=True, slots=True)
class Caps:
    """How many identifiers of each type one profile may hold (absent: unlimited)."""

    per_type: Mapping[str, int]

    def allows(self, counts: Mapping[str, int]) -> bool:
        return all(counts.get(t, 0) <= cap for t, cap in self.per_type.items())


class EventIds(NamedTuple):
    """What one event says about identity."""

    primary: str  # the identifier the event is attributed to (user id, else anonymous id)
    keys: tuple[str, ...]
    links: tuple[Link, ...]


def event_identifiers(
    body: Mapping[str, Any],
    *,
    ts_ms: int,
    hash_key: str,
    external: Iterable[tuple[str, tuple[str | tuple[str, ...], ...]]] = (),
) -> EventIds | None:
    """Identifiers and links of one stored event body; None if it names nobody."""
    user = body.get("userId")
    user_key = f"{USER}:{user}" if isinstance(user, str) and not is_placeholder(user) else None
    anon = body.get("anonymousId")
    anon_key = f"{ANON}:{anon}" if isinstance(anon, str) and not is_placeholder(anon) else None
    others: list[str] = []
    if body.get("type") == "alias":
        previous = body.get("previousId")
        if isinstance(previous, str) and not is_placeholder(previous) and previous != user:
            others.append(f"{ANON}:{previous}")
    traits = body.get("traits") or {}
    context = body.get("context") or {}
    ctx_traits = context.get("traits") if isinstance(context, dict) else None
    for source in (traits, ctx_traits):
        if isinstance(source, dict) and isinstance(source.get("email"), str):
            email = normalize_email(source["email"])
            if email:
                others.append(f"{EMAIL}:{keyed_hash(hash_key, email)}")
            elif is_pseudonym(source["email"]):  # pseudonymized mode: hashed at collection
                others.append(f"{EMAIL}:{source['email']}")
    for name, paths in external:
        for path in paths:
            value = _dig(body, path)
            if isinstance(value, str | int) and not isinstance(value, bool) and not is_placeholder(value):
                others.append(f"{name}:{value}")
    primary = user_key or anon_key
    if primary is None:
        return None
    keys = tuple(dict.fromkeys([k for k in (user_key, anon_key, *others) if k]))
    message_id = str(body.get("messageId", ""))
    links = tuple(Link.of(primary, k, ts_ms, message_id) for k in keys if k != primary)
    return EventIds(primary, keys, links)


def _dig(body: Mapping[str, Any], path: str | tuple[str, ...]) -> Any:
    value: Any = body
    for part in _parts(path) if isinstance(path, str) else path:
        if not isinstance(value, dict):  # bodies are parsed JSON: plain dicts
            return None
        value = value.get(part)
    return value


@lru_cache(maxsize=256)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


@dataclass
class Resolution:
    """Groups of identifiers (each a profile) and which links were refused."""

    groups: list[frozenset[str]]
    refused: set[tuple[str, str]] = field(default_factory=set)

    def group_of(self) -> dict[str, int]:
        return {key: i for i, group in enumerate(self.groups) for key in group}


def resolve(
    keys: Iterable[str],
    links: Iterable[Link],
    caps: Caps,
    separations: Mapping[str, Iterable[tuple[str, str]]] = {},
) -> Resolution:
    """Constrained union-find over links taken in (time, messageId) order."""
    parent: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    labels: dict[str, set[tuple[str, str]]] = {}

    def add(key: str) -> None:
        if key not in parent:
            parent[key] = key
            counts[key] = {key_type(key): 1}
            labels[key] = set()

    def find(key: str) -> str:
        root = key
        while parent[root] != root:
            root = parent[root]
        while parent[key] != root:
            parent[key], key = root, parent[key]
        return root

    for key in keys:
        add(key)
    for sep_id, members in separations.items():
        for side, key in members:
            add(key)
            labels[key].add((sep_id, side))

    refused: set[tuple[str, str]] = set()
    for link in sorted(set(links), key=lambda lk: lk.order):
        add(link.a)
        add(link.b)
        ra, rb = find(link.a), find(link.b)
        if ra == rb:
            continue
        merged_counts = dict(counts[ra])
        for t, n in counts[rb].items():
            merged_counts[t] = merged_counts.get(t, 0) + n
        merged_labels = labels[ra] | labels[rb]
        split = any((sep, "L") in merged_labels and (sep, "R") in merged_labels for sep, _ in merged_labels)
        if split or not caps.allows(merged_counts):
            refused.add(link.pair)
            continue
        # the root with more members absorbs the other: keeps paths short
        if sum(counts[ra].values()) < sum(counts[rb].values()):
            ra, rb = rb, ra
        parent[rb] = ra
        counts[ra] = merged_counts
        labels[ra] = merged_labels
    groups: dict[str, set[str]] = {}
    for key in parent:
        groups.setdefault(find(key), set()).add(key)
    ordered = sorted((frozenset(g) for g in groups.values()), key=lambda g: min(g))
    return Resolution(ordered, refused)
