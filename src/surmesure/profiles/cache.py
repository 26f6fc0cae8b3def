"""The pipeline worker's memory of the identity graph and of hot profiles.

Most events come from people the store already knows, carrying identifiers already
linked: for them, identity resolution cannot change anything, and the profile step is
"find the profile, fold the event in, save it". This cache lets the worker do that
without asking the store where each identifier belongs, which links it has seen, or
what the profile holds.

It is only sound while the worker is the one writer of profiles and of the identity
graph. Everything else that changes them (an undone merge, an erasure) bumps the
generation in ``profiles_state`` in the same transaction; the worker reads it at the
start of every step, inside its write transaction, and starts afresh when it moved.
Whatever the worker changed in a transaction that then failed is unknown: the worker
clears the whole cache then (:meth:`UnifyCache.clear`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from surmesure.profiles import store

__all__ = ["UnifyCache"]

P = TypeVar("P")
Order = tuple[int, str, str, str]


class UnifyCache(Generic[P]):
    """Identifier → profile id, link → earliest order, profile id → profile, bounded."""

    def __init__(self, *, max_keys: int = 1_000_000, max_profiles: int = 50_000) -> None:
        self.max_keys = max_keys
        self.max_profiles = max_profiles
        self.generation: int | None = None
        self.pid_of: dict[str, str] = {}
        self.link_order: dict[tuple[str, str], Order] = {}
        self.profiles: dict[str, P] = {}

    def sync(self, conn: sa.Connection) -> None:
        """Start afresh if profiles changed outside the worker since the last step."""
        current = store.generation(conn)
        if current != self.generation:
            self.clear()
            self.generation = current

    def clear(self) -> None:
        self.generation = None
        self.pid_of.clear()
        self.link_order.clear()
        self.profiles.clear()

    def forget(self, keys: Iterable[str], profile_ids: Iterable[str]) -> None:
        """Drop what a re-resolution may have changed; it is read again when needed."""
        for key in keys:
            self.pid_of.pop(key, None)
        for pid in profile_ids:
            self.profiles.pop(pid, None)

    def knows_link(self, pair: tuple[str, str], order: Order) -> bool:
        """The store already holds this link, first seen no later than ``order``."""
        known = self.link_order.get(pair)
        return known is not None and known <= order

    def learn_link(self, pair: tuple[str, str], order: Order) -> None:
        known = self.link_order.get(pair)
        if known is None or order < known:
            self.link_order[pair] = order

    def load_links(self, conn: sa.Connection, pairs: Iterable[tuple[str, str]]) -> None:
        for row in store.links_between(conn, pairs):
            self.learn_link((row.key_a, row.key_b), (row.ts_ms, row.message_id, row.key_a, row.key_b))

    def load_keys(self, conn: sa.Connection, keys: Iterable[str]) -> None:
        misses = [k for k in keys if k not in self.pid_of]
        if misses:
            self.pid_of.update(store.profile_of_keys(conn, misses))

    def load_profiles(self, conn: sa.Connection, profile_ids: Iterable[str], build: Any) -> None:
        """Read the profiles not in memory; ``build(row)`` makes one from its row."""
        misses = [p for p in profile_ids if p not in self.profiles]
        if misses:
            for pid, row in store.load_profiles(conn, misses).items():
                self.profiles[pid] = build(row)

    def trim(self) -> None:
        """Keep within bounds: the oldest entries go first (dicts keep insertion order)."""
        if len(self.pid_of) > self.max_keys:
            self.pid_of.clear()
        if len(self.link_order) > self.max_keys:
            self.link_order.clear()
        excess = len(self.profiles) - self.max_profiles
        if excess > 0:
            for pid in list(self.profiles)[: excess + self.max_profiles // 4]:
                del self.profiles[pid]
