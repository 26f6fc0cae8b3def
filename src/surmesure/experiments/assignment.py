"""Deterministic, sticky assignment of a person to an arm of an A/B/n test.

The bucket of a person is a keyed hash (HMAC-SHA256) of the experiment id, the
experiment's salt and a **person key**, read as a number in ``[0, 1)``. The first
``holdout_share`` of that interval is the holdout (people who see the default and are
measured as a control for the whole programme); the rest is cut in proportion to the
arms' weights. Same inputs, same arm, on every server and after a restart.

Surviving the anonymous-to-known merge
--------------------------------------
Hashing on "the profile id" or "the user id" would move a person to another arm when an
anonymous visitor logs in (their profile merges into a known one). The rule here has
two parts, one pure and one for the store:

1. **The person key** (:func:`person_key`) is the profile's *earliest* identifier by
   first-seen time (ties broken by kind, then value): for a visitor who browsed
   anonymously and then signed up, that is their first anonymous id, which does not
   change when the user id arrives.
2. **The first assignment is recorded and carried through merges.** The store keeps one
   :class:`Exposure` row per (experiment, identifier) the first time a person is exposed.
   When two profiles merge, both may already have been exposed, possibly to different
   arms; :func:`carry_through_merge` keeps the *earliest* exposure (then the smallest
   person key), so the surviving profile stays in the arm the person saw first. The
   store must look up exposures by every identifier of the profile before hashing, and
   hash only when there is none.

Changing weights never moves people whose exposure is recorded; changing the salt
re-randomizes everybody (a new experiment in all but name).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "Arm",
    "Assignment",
    "Design",
    "Exposure",
    "Identifier",
    "assign",
    "bucket",
    "carry_through_merge",
    "person_key",
]

_SEPARATOR = "\x1f"
_SCALE = float(2**64)


@dataclass(frozen=True)
class Arm:
    """One arm of an experiment and its relative weight (any positive number)."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class Design:
    """An A/B/n experiment: its id, salt, arms and the share of people held out."""

    experiment_id: str
    arms: tuple[Arm, ...]
    holdout_share: float = 0.0
    salt: str = ""

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError("an experiment needs at least one arm")
        if len({a.name for a in self.arms}) != len(self.arms):
            raise ValueError("arm names must be unique")
        if any(not a.weight > 0 for a in self.arms):
            raise ValueError("arm weights must be positive")
        if not 0.0 <= self.holdout_share < 1.0:
            raise ValueError("holdout_share must be in [0, 1)")


@dataclass(frozen=True)
class Assignment:
    """Where a person falls: an arm name, or ``None`` for the holdout."""

    experiment_id: str
    arm: str | None
    bucket: float

    @property
    def holdout(self) -> bool:
        return self.arm is None


@dataclass(frozen=True)
class Identifier:
    """One identifier of a profile and when it was first seen."""

    kind: str  # "anonymous_id", "user_id", "email", ...
    value: str
    first_seen: datetime


@dataclass(frozen=True)
class Exposure:
    """The record of a person's first exposure to an experiment (kept by the store)."""

    experiment_id: str
    person_key: str
    arm: str | None
    at: datetime
    decision_id: str = ""
    propensity: float = 1.0


def bucket(key: bytes, experiment_id: str, salt: str, person: str) -> float:
    """A uniform number in ``[0, 1)`` from a keyed hash of the experiment and the person.

    The key is the installation's secret, so buckets cannot be predicted (or chosen) by
    someone who knows the experiment id.
    """
    message = _SEPARATOR.join((experiment_id, salt, person)).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(design: Design, person: str, key: bytes) -> Assignment:
    """Assign ``person`` (a :func:`person_key`) to an arm of ``design``, or to the holdout."""
    u = bucket(key, design.experiment_id, design.salt, person)
    if u < design.holdout_share:
        return Assignment(design.experiment_id, None, u)
    v = (u - design.holdout_share) / (1.0 - design.holdout_share)
    total = sum(a.weight for a in design.arms)
    edge = 0.0
    for arm in design.arms:
        edge += arm.weight / total
        if v < edge:
            return Assignment(design.experiment_id, arm.name, u)
    return Assignment(design.experiment_id, design.arms[-1].name, u)  # rounding at 1.0


def person_key(identifiers: Iterable[Identifier]) -> str:
    """The stable key of a profile: its earliest identifier, as ``kind:value``.

    Raises ``ValueError`` for a profile without identifiers.
    """
    ordered = sorted(identifiers, key=lambda i: (i.first_seen, i.kind, i.value))
    if not ordered:
        raise ValueError("a profile without identifiers has no person key")
    first = ordered[0]
    return f"{first.kind}:{first.value}"


def carry_through_merge(exposures: Sequence[Exposure]) -> Exposure | None:
    """The exposure that survives when profiles merge: the earliest, then the smallest key.

    ``exposures`` are the recorded exposures of every identifier of the merged profile for
    one experiment; ``None`` when there is none (the store then hashes the new person key).
    """
    if not exposures:
        return None
    ids = {e.experiment_id for e in exposures}
    if len(ids) != 1:
        raise ValueError("exposures of one experiment only")
    return min(exposures, key=lambda e: (e.at, e.person_key))
