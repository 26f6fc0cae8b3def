"""The one-row scorer of serving gives ``Hybrid.recommend``'s answer: the same scores for
every item and the same top items, for every blend it accepts; a model it does not know
is left to the general path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from recdata import clusters, fit_kwargs
from scipy.sparse import csr_matrix

from surmesure.recommendations.algorithms import EASE, Hybrid
from surmesure.recommendations.onerow import aggregate, one_row_scorer

_BLENDS: list[dict[str, Any]] = [
    {},  # the default model
    {"blend": {"ease": 1.0, "cooccurrence": 0.3, "session": 0.2, "content": 0.1, "popularity": 0.2}},
    {"blend": {"ease": 0.0, "session": 1.0, "popularity": 0.5}, "thin_popularity": 0.0},
    {"max_items": 10},  # EASE models only the 10 most popular items
    {"weighting": "binary", "cold_start_weight": 0.0},
    {"weighting": "raw", "blend": {"ease": 1.0, "content": 0.0, "popularity": 0.1}},
]


def _rows(n_items: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random visitors' row entries: repeated columns, empty rows, one-item rows."""
    rng = np.random.default_rng(seed)
    rows = [(np.zeros(0, dtype=np.intp), np.zeros(0)), (np.array([3], dtype=np.intp), np.array([2.0]))]
    for _ in range(30):
        n = int(rng.integers(1, 12))
        rows.append((rng.integers(0, n_items, size=n).astype(np.intp), rng.random(n) * 5))
    return rows


@pytest.mark.parametrize(
    "params", _BLENDS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default"
)
def test_one_row_scores_and_ranks_as_the_model(params: dict[str, Any]) -> None:
    data = clusters()
    model = Hybrid(**params).fit(data.user_items, **fit_kwargs(data))
    scorer = one_row_scorer(model)
    assert scorer is not None
    rng = np.random.default_rng(7)
    for cols, values in _rows(data.n_items, seed=len(str(params))):
        row_cols, row_data = aggregate(cols, values)
        row = csr_matrix((row_data, row_cols, np.array([0, len(row_cols)])), shape=(1, data.n_items))
        expected = model._scores(np.zeros(1, dtype=np.intp), row, False)[0]
        np.testing.assert_allclose(scorer.scores(row_cols, row_data), expected, rtol=1e-5, atol=1e-6)
        allowed = rng.random(data.n_items) < 0.8
        for n in (1, 5, data.n_items):
            ids, scores = model.recommend(
                0, row, N=n, filter_already_liked_items=False, items=np.flatnonzero(allowed)
            )
            got_ids, got_scores = scorer.recommend(row_cols, row_data, n, allowed)
            np.testing.assert_allclose(got_scores, scores, rtol=1e-5, atol=1e-6)
            # the same items, up to the order of (nearly) equal scores
            assert sorted(got_ids.tolist()) == sorted(ids.tolist()) or np.ptp(scores) < 1e-6
            assert allowed[got_ids].all()


def test_one_row_top_items_break_ties_on_the_lower_index() -> None:
    data = clusters()
    model = Hybrid(blend={"ease": 0.0, "popularity": 1.0}, popularity_half_life_days=None).fit(
        data.user_items, **fit_kwargs(data)
    )
    scorer = one_row_scorer(model)
    assert scorer is not None
    empty = np.zeros(0, dtype=np.intp)
    allowed = np.ones(data.n_items, dtype=bool)
    scores = scorer.scores(empty, np.zeros(0, dtype=np.float32))
    ids, top = scorer.recommend(empty, np.zeros(0, dtype=np.float32), data.n_items, allowed)
    order = np.lexsort((np.arange(data.n_items), -scores))
    assert ids.tolist() == order.tolist()
    assert np.all(np.diff(top) <= 0)
    nothing, _ = scorer.recommend(empty, np.zeros(0, dtype=np.float32), 5, np.zeros(data.n_items, dtype=bool))
    assert nothing.size == 0


def test_an_unknown_blend_or_model_takes_the_general_path() -> None:
    data = clusters()
    with_als = Hybrid(blend={"ease": 1.0, "als": 0.2, "popularity": 0.1}).fit(
        data.user_items, **fit_kwargs(data)
    )
    assert one_row_scorer(with_als) is None
    assert one_row_scorer(EASE().fit(data.user_items)) is None
