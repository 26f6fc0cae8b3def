"""Deterministic, sticky assignment: same person, same arm; shares follow the weights."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from surmesure.experiments.assignment import (
    Arm,
    Design,
    Exposure,
    Identifier,
    assign,
    bucket,
    carry_through_merge,
    person_key,
)

KEY = b"test-installation-secret"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DESIGN = Design("exp-home-hero", (Arm("a", 1.0), Arm("b", 2.0), Arm("c", 1.0)), holdout_share=0.1, salt="s1")


def test_the_same_person_always_gets_the_same_arm() -> None:
    first = [assign(DESIGN, f"anonymous_id:{i}", KEY) for i in range(200)]
    again = [assign(DESIGN, f"anonymous_id:{i}", KEY) for i in range(200)]
    assert first == again
    assert len({a.arm for a in first}) == 4  # three arms and the holdout


def test_shares_follow_the_weights_and_the_holdout() -> None:
    n = 20_000
    counts = Counter(assign(DESIGN, f"p{i}", KEY).arm for i in range(n))
    assert counts[None] / n == pytest.approx(0.10, abs=0.01)
    assert counts["a"] / n == pytest.approx(0.9 * 0.25, abs=0.015)
    assert counts["b"] / n == pytest.approx(0.9 * 0.50, abs=0.015)
    assert counts["c"] / n == pytest.approx(0.9 * 0.25, abs=0.015)


def test_the_salt_the_experiment_and_the_key_each_reshuffle() -> None:
    base = bucket(KEY, "e", "s", "p")
    assert 0.0 <= base < 1.0
    assert bucket(KEY, "e", "s2", "p") != base
    assert bucket(KEY, "e2", "s", "p") != base
    assert bucket(b"other", "e", "s", "p") != base


def test_the_person_key_is_the_earliest_identifier_so_login_does_not_move_anyone() -> None:
    anonymous = Identifier("anonymous_id", "anon-1", T0)
    before = person_key([anonymous])
    after = person_key([Identifier("user_id", "u-42", T0 + timedelta(days=3)), anonymous])
    assert before == after == "anonymous_id:anon-1"
    assert assign(DESIGN, before, KEY) == assign(DESIGN, after, KEY)
    with pytest.raises(ValueError, match="no person key"):
        person_key([])


def test_a_merge_keeps_the_first_exposure() -> None:
    early = Exposure("exp-home-hero", "anonymous_id:phone", "b", T0)
    late = Exposure("exp-home-hero", "anonymous_id:laptop", "a", T0 + timedelta(hours=1))
    assert carry_through_merge([late, early]) == early
    assert carry_through_merge([]) is None
    with pytest.raises(ValueError, match="one experiment"):
        carry_through_merge([early, Exposure("other", "x", "a", T0)])


def test_a_design_is_validated() -> None:
    with pytest.raises(ValueError, match="unique"):
        Design("e", (Arm("a"), Arm("a")))
    with pytest.raises(ValueError, match="holdout"):
        Design("e", (Arm("a"),), holdout_share=1.0)
    with pytest.raises(ValueError, match="positive"):
        Design("e", (Arm("a", 0.0),))
    assert assign(Design("e", (Arm("only"),)), "p", KEY).arm == "only"
