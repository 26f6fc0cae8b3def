"""Frequency caps as one pure mechanism: counts in, the first cap reached out."""

from __future__ import annotations

from surmesure.decisions.caps import first_exceeded
from surmesure.decisions.domain import Cap

HOUR = 3_600_000


def test_the_first_cap_reached_suppresses_with_its_reason() -> None:
    caps = [Cap(scope="placement", max=3, within_hours=1), Cap(scope="person", max=5, within_hours=24)]
    asked: list[tuple[str, int]] = []

    def count(cap: Cap, since: int) -> int:
        asked.append((cap.scope, since))
        return {"placement": 2, "person": 5}[cap.scope]

    found = first_exceeded(caps, 100 * HOUR, count)
    assert found is not None
    assert found.cap.scope == "person"
    assert asked == [("placement", 99 * HOUR), ("person", 76 * HOUR)]
    assert (
        found.reason
        == "frequency cap: 5 of at most 5 decisions for this person, on every placement in 24 hours"
    )


def test_no_cap_reached_and_a_zero_cap_always_suppresses() -> None:
    assert first_exceeded([Cap(scope="global", max=10, within_hours=1)], 0, lambda c, s: 9) is None
    assert first_exceeded([Cap(scope="channel", max=0, within_hours=1)], 0, lambda c, s: 0) is not None
