"""Time, injected: production uses :class:`SystemClock`, tests a :class:`FixedClock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "utc_from_ms", "utc_ms"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, **delta: float) -> None:
        self._at += timedelta(**delta)


def utc_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; events store instants as integers (fast, portable)."""
    return int(moment.timestamp() * 1000)


def utc_from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def monotonic() -> float:
    return time.monotonic()
