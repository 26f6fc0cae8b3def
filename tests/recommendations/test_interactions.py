"""The interaction matrix: weights by kind and recency, quantities, id maps, the
catalogue as columns, replenishable items, sessions and the serving row."""

from __future__ import annotations

import numpy as np
import pytest
from recdata import DAY_MS, NOW_MS

from surmesure.recommendations.errors import NotFittedError
from surmesure.recommendations.interactions import Interaction, InteractionMatrix, columns, sessionize


def build(*records: tuple[str, str, str, int] | Interaction, **params: object) -> InteractionMatrix:
    return InteractionMatrix(**params).fit(**columns(records), now_ms=NOW_MS)  # type: ignore[arg-type]


def cell(m: InteractionMatrix, person: str, item: str) -> float:
    return float(m.user_items_[m.user_index(person)[0], m.item_index(item)[0]])


def test_a_purchase_weighs_more_than_an_add_to_cart_which_weighs_more_than_a_view() -> None:
    m = build(("p", "a", "view", NOW_MS), ("p", "b", "add_to_cart", NOW_MS), ("p", "c", "purchase", NOW_MS))
    assert cell(m, "p", "a") == 1.0
    assert cell(m, "p", "b") == 3.0
    assert cell(m, "p", "c") == 5.0


def test_the_weights_are_configurable_and_unknown_kinds_are_ignored() -> None:
    m = build(
        ("p", "a", "view", NOW_MS), ("p", "b", "wishlist", NOW_MS), ("p", "c", "purchase", NOW_MS),
        weights={"view": 2.0, "purchase": 10.0},
    )
    assert cell(m, "p", "a") == 2.0
    assert cell(m, "p", "c") == 10.0
    assert list(m.item_ids_) == ["a", "c"]
    assert m.n_dropped_ == 1


def test_an_event_one_half_life_old_counts_half_and_events_add_up() -> None:
    m = build(
        ("p", "a", "view", NOW_MS - 30 * DAY_MS), ("p", "b", "view", NOW_MS), ("p", "b", "view", NOW_MS),
        half_life_days=30.0,
    )
    assert cell(m, "p", "a") == pytest.approx(0.5)
    assert cell(m, "p", "b") == pytest.approx(2.0)
    flat = build(("p", "a", "view", NOW_MS - 300 * DAY_MS), half_life_days=None)
    assert cell(flat, "p", "a") == 1.0


def test_quantities_count_with_a_logarithm() -> None:
    m = build(Interaction("p", "a", "purchase", NOW_MS, 3), Interaction("p", "b", "purchase", NOW_MS, None))
    assert cell(m, "p", "a") == pytest.approx(5.0 * 2.0)  # log2(1 + 3)
    assert cell(m, "p", "b") == pytest.approx(5.0)


def test_id_maps_are_sorted_and_stable_and_the_catalogue_can_fix_the_columns() -> None:
    records = [("zoe", "i2", "view", NOW_MS), ("adam", "i1", "view", NOW_MS), ("adam", "i9", "view", NOW_MS)]
    m = build(*records)
    assert list(m.user_ids_) == ["adam", "zoe"]
    assert list(m.item_ids_) == ["i1", "i2", "i9"]
    assert list(m.user_index(["zoe", "nobody"])) == [1, -1]
    assert list(m.item_index(["i9", "i5"])) == [2, -1]
    again = build(*reversed(records))
    assert (again.user_items_ != m.user_items_).nnz == 0
    catalogue = InteractionMatrix().fit(**columns(records), now_ms=NOW_MS, items=["i0", "i1", "i2", "i3"])
    assert list(catalogue.item_ids_) == ["i0", "i1", "i2", "i3"]
    assert catalogue.user_items_.shape == (2, 4)
    assert catalogue.n_dropped_ == 1  # i9 is not in the catalogue


def test_replenishable_items_are_the_ones_buyers_buy_again() -> None:
    records = []
    for person in ("a", "b", "c", "d"):
        records += [(person, "milk", "purchase", NOW_MS - DAY_MS), (person, "tv", "purchase", NOW_MS)]
    records += [("a", "milk", "purchase", NOW_MS), ("b", "milk", "purchase", NOW_MS)]
    records += [("a", "tv", "view", NOW_MS), ("a", "tv", "view", NOW_MS)]  # views are not purchases
    m = build(*records, replenish_min_buyers=3, replenish_share=0.5)
    replenishable = dict(zip(m.item_ids_, m.replenishable_, strict=True))
    assert replenishable == {"milk": True, "tv": False}
    assert m.purchases_[m.user_index("a")[0], m.item_index("milk")[0]] == 2
    assert m.last_ms_[m.user_index("c")[0], m.item_index("milk")[0]] == NOW_MS - DAY_MS


def test_sessions_start_after_thirty_minutes_of_silence() -> None:
    minute = 60_000
    persons = ["a", "a", "a", "b", "a"]
    times = [0, 10 * minute, 100 * minute, 5 * minute, 105 * minute]
    sessions = sessionize(persons, times, gap_minutes=30)
    assert sessions[0] == sessions[1] != sessions[2]
    assert sessions[2] == sessions[4]
    assert len(set(sessions)) == 3


def test_a_visitor_row_for_serving_uses_the_fitted_columns_and_weights() -> None:
    m = build(("p", "a", "view", NOW_MS), ("q", "b", "purchase", NOW_MS))
    row = m.row(["b", "unknown", "a"], ["add_to_cart", "view", "view"], [NOW_MS] * 3, now_ms=NOW_MS)
    assert row.shape == (1, 2)
    assert row.toarray().tolist() == [[1.0, 3.0]]
    with pytest.raises(NotFittedError):
        InteractionMatrix().row(["a"], ["view"], [0], now_ms=0)


def test_a_million_events_are_handled_in_arrays() -> None:
    """Shape and sums only (speed is measured in benchmarks, not in tests)."""
    rng = np.random.default_rng(0)
    n = 200_000
    m = InteractionMatrix().fit(
        rng.integers(0, 5_000, n).astype(str), rng.integers(0, 2_000, n),
        rng.choice(["view", "add_to_cart", "purchase"], n), NOW_MS - rng.integers(0, 90 * DAY_MS, n),
    )
    assert m.user_items_.shape == (len(m.user_ids_), len(m.item_ids_))
    assert m.user_items_.nnz == m.last_ms_.nnz
    assert 0 < m.user_items_.sum() < 5.0 * n
