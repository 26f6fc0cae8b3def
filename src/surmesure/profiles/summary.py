"""One person's summary as the pipeline holds it, and what one pipeline step writes.

``ProfileState`` is a row of ``profiles`` in memory: traits (with the time each was
set), features (the order-free monoid of ``features.py``) and consent; two combine
when profiles merge. ``Step`` collects a step's writes so they can be applied later,
in one short transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from surmesure.consent.domain import combine_profiles_consent
from surmesure.profiles import features, store

__all__ = ["ProfileState", "Step"]


@dataclass
class ProfileState:
    profile_id: str
    created_ms: int
    features: dict[str, Any] = field(default_factory=features.empty)
    traits: dict[str, Any] = field(default_factory=dict)
    trait_times: dict[str, list[Any]] = field(default_factory=dict)
    consent: dict[str, Any] = field(default_factory=dict)
    last_seq: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ProfileState:
        return cls(
            row["profile_id"],
            row["created_ms"],
            row["features"],
            row["traits"],
            row["trait_times"],
            row["consent"],
            row["last_seq"],
        )

    def absorb(self, other: ProfileState) -> None:
        self.features = features.combine(self.features, other.features)
        for key, value in other.traits.items():
            stamp = other.trait_times.get(key, [0, ""])
            if key not in self.traits or stamp > self.trait_times.get(key, [0, ""]):
                self.traits[key] = value
                self.trait_times[key] = stamp
        self.consent = combine_profiles_consent(self.consent, other.consent)
        self.created_ms = min(self.created_ms, other.created_ms)
        self.last_seq = max(self.last_seq, other.last_seq)

    def row(self, now_ms: int) -> dict[str, Any]:
        """The stored row, its JSON columns already text (serialized before the write
        lock is taken; ``store.save_profiles`` writes them as they are)."""
        return {
            "profile_id": self.profile_id,
            "merged_into": None,
            "created_ms": self.created_ms,
            "updated_ms": now_ms,
            "traits": _dumps(self.traits),
            "trait_times": _dumps(self.trait_times),
            "features": _dumps(self.features),
            "consent": _dumps(self.consent),
            "last_seq": self.last_seq,
        }


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Step:
    """What one pipeline step will write: profiles to save, other writes in order."""

    def __init__(self) -> None:
        self.dirty: dict[str, ProfileState] = {}
        self._writes: list[Callable[[sa.Connection], None]] = []
        self._rows: list[dict[str, Any]] = []

    def write(self, op: Callable[[sa.Connection], None]) -> None:
        self._writes.append(op)

    def save_profiles(self, now_ms: int) -> None:
        """Serialize the changed profiles now, so that applying is only SQL."""
        self._rows.extend(profile.row(now_ms) for profile in self.dirty.values())
        self.dirty.clear()

    def apply(self, conn: sa.Connection) -> None:
        for op in self._writes:
            op(conn)
        store.save_profiles(conn, self._rows)
        self._writes.clear()
        self._rows.clear()
