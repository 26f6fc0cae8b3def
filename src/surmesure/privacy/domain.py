"""What identifies a person in the schema, and the person an export or erasure is about.

Pure: no I/O. ``PERSON_COLUMNS`` is the one place that says which column names hold a
person's identifier; ``tests/privacy/test_completeness.py`` checks that every table with
such a column (or listed in ``PERSON_CONTENT``) is covered by an export and erasure
handler of ``registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from surmesure.ids import keyed_hash

__all__ = ["PERSON_COLUMNS", "PERSON_CONTENT", "Person", "tombstone_hash"]

#: column names that hold a person's identifier (a raw id, an identifier key, a profile id)
PERSON_COLUMNS = frozenset(
    {
        "anonymous_id",
        "user_id",
        "profile_id",
        "merged_into",
        "kept_profile",
        "other_profile",
        "person",
        "identifier",
        "key",
        "key_a",
        "key_b",
    }
)
#: tables with no such column whose text may still name people (an item as received)
PERSON_CONTENT = frozenset({"event_quarantine", "event_conflicts"})


@dataclass(frozen=True)
class Person:
    """Everyone's rows an export or an erasure reaches: the profiles (the live one and
    those merged into it), the identifier keys (``type:value``), and raw values to look
    for in unstructured text (quarantined items)."""

    profile_ids: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()
    extra_values: frozenset[str] = field(default_factory=frozenset)

    def ids_of(self, id_type: str) -> list[str]:
        return sorted(k.split(":", 1)[1] for k in self.keys if k.split(":", 1)[0] == id_type)

    @property
    def user_ids(self) -> list[str]:
        return self.ids_of("user_id")

    @property
    def anonymous_ids(self) -> list[str]:
        return self.ids_of("anonymous_id")

    @property
    def values(self) -> set[str]:
        """Raw identifier values (emails are kept hashed: their addresses come from the
        profile's traits and the events, in ``extra_values``)."""
        raw = {k.split(":", 1)[1] for k in self.keys if not k.startswith("email:")}
        return raw | set(self.extra_values)

    @property
    def empty(self) -> bool:
        return not self.profile_ids and not self.keys

    def cache_keys(self) -> set[str]:
        """Keys under which caches may keep the person (profile ids, ``type:value``)."""
        out = set(self.profile_ids) | set(self.keys)
        for value in self.values:
            out.update(f"{t}:{value}" for t in ("id", "user_id", "anonymous_id", "profile_id", "email"))
        return out


def tombstone_hash(hash_key: str, key: str) -> str:
    """The keyed hash kept for an erased identifier key (never the key itself)."""
    return keyed_hash(hash_key, "tombstone/" + key)
