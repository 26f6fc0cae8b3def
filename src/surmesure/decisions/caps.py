"""Frequency caps at decision time: one mechanism for placements now and for journeys
and campaigns later.

A cap is ``(scope, max, within_hours)``; the caller counts the past delivered (not
suppressed) decisions each cap's scope covers in its window — with
:func:`~surmesure.decisions.store.count_decisions` — and :func:`first_exceeded` says
which cap, if any, suppresses this one. Pure: counts in, a reason out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from surmesure.decisions.domain import Cap

__all__ = ["CapCheck", "first_exceeded", "reason"]

#: what the caller supplies: (cap, window start in ms) -> delivered decisions counted
CapCounter = Callable[[Cap, int], int]


class CapCheck:
    """The cap that stopped a decision and the count that reached it."""

    def __init__(self, cap: Cap, count: int) -> None:
        self.cap = cap
        self.count = count

    @property
    def reason(self) -> str:
        return reason(self.cap, self.count)


_WHO = {
    "person": "this person, on every placement",
    "placement": "this person, on this placement",
    "channel": "this person, on this channel",
    "global": "everyone, on this placement",
}


def reason(cap: Cap, count: int) -> str:
    hours = f"{cap.within_hours:g} hour" + ("" if cap.within_hours == 1 else "s")
    return f"frequency cap: {count} of at most {cap.max} decisions for {_WHO[cap.scope]} in {hours}"


def first_exceeded(caps: Sequence[Cap], now_ms: int, count: CapCounter) -> CapCheck | None:
    """The first cap already reached (``count >= max``), in the order given; None if all allow."""
    for cap in caps:
        since = now_ms - int(cap.within_hours * 3_600_000)
        n = count(cap, since)
        if n >= cap.max:
            return CapCheck(cap, n)
    return None
