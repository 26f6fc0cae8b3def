"""The default model's blend: popularity weighs more for thin histories, EASE keeps a
scale learned at fit, and the items EASE does not model are left to the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from surmesure.recommendations.algorithms import EASE, Hybrid


def _matrix(rows: list[list[int]], n_items: int) -> csr_matrix:
    data = [1.0 for row in rows for _ in row]
    indices = [i for row in rows for i in row]
    indptr = np.cumsum([0, *(len(row) for row in rows)])
    return csr_matrix((np.asarray(data, dtype=np.float32), indices, indptr), shape=(len(rows), n_items))


def test_popularity_weight_grows_as_the_history_thins() -> None:
    model = Hybrid(blend={"ease": 1.0, "popularity": 0.1}, thin_popularity=1.0, thin_history=5.0)
    rows = _matrix([[], [0, 1, 2, 3, 4], list(range(45))], 50)
    assert np.allclose(model.popularity_weights(rows), [1.1, 0.6, 0.2])
    flat = Hybrid(blend={"ease": 1.0, "popularity": 0.1}, thin_popularity=0.0)
    assert np.allclose(flat.popularity_weights(rows), [0.1, 0.1, 0.1])


def _tastes() -> csr_matrix:
    # item 0 is bought by everyone; items 1 and 2 always go together, as do 3 and 4
    rows = [[0, 1, 2]] * 6 + [[0, 3, 4]] * 6 + [[0]] * 20
    return _matrix(rows, 6)


def test_a_thin_history_gets_the_popular_item_and_a_rich_one_its_neighbour() -> None:
    model = Hybrid(
        ease_lambda=1.0, blend={"ease": 1.0, "popularity": 0.05}, thin_popularity=20.0, thin_history=1.0
    )
    model.fit(_tastes())
    thin = _matrix([[1]], 6)  # one item: popularity weighs 0.05 + 20 * 1/2
    ids, _ = model.recommend(0, thin, N=1)
    assert ids.tolist() == [0]
    rich = _matrix([[0, 1]], 6)
    rich_model = Hybrid(ease_lambda=1.0, blend={"ease": 1.0, "popularity": 0.05}, thin_popularity=0.0)
    rich_model.fit(_tastes())
    ids, _ = rich_model.recommend(0, rich, N=1)
    assert ids.tolist() == [2]


def test_ease_keeps_one_scale_and_unmodelled_items_score_zero(tmp_path: Path) -> None:
    data = _tastes()
    model = Hybrid(ease_lambda=1.0, max_items=3, blend={"ease": 1.0, "popularity": 0.0}, thin_popularity=0.0)
    model.fit(data)
    assert isinstance(model.ease_, EASE)
    assert sorted(model.ease_.items_.tolist()) == [0, 1, 2]  # the 3 most popular
    assert model.ease_scale_ > 0
    parts = model.component_scores(np.arange(2), _matrix([[1], [1, 2]], 6))
    ease = parts["ease"]
    assert np.all(ease[:, 3:] == 0)
    # not row-normalized: one constant for everyone
    raw = Hybrid._raw_scores("ease", model.ease_, np.arange(2), _matrix([[1], [1, 2]], 6), False)
    assert np.allclose(ease, raw * model.ease_scale_)
    model.save(tmp_path / "m")
    loaded = Hybrid.load(tmp_path / "m")
    assert loaded.ease_scale_ == model.ease_scale_


def test_one_row_top_k_is_the_full_sort_with_ties_on_the_lower_index() -> None:
    from surmesure.recommendations.algorithms.base import _topk

    rng = np.random.default_rng(3)
    for trial in range(50):
        row = np.round(rng.exponential(size=(1, 5000)) * (1 + trial % 4)).astype(np.float32)
        row[0, rng.choice(5000, 300, replace=False)] = -np.inf
        ids, scores = _topk(row, 10)
        expected = np.lexsort((np.arange(5000), -row[0]))[:10]
        assert ids[0].tolist() == expected.tolist()
        assert np.array_equal(scores[0], row[0, expected])
