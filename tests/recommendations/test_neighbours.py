"""The neighbour lists reasons use: the same best match as the dense similarity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from surmesure.recommendations.neighbours import Neighbours


def _dense(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    sim = rng.random((n, n)).astype(np.float32)
    sim[sim < 0.5] = 0.0  # sparse-ish, with items that are not similar at all
    return sim


def test_lists_keep_the_top_scores_and_look_them_up() -> None:
    sim = _dense(50)
    asked: list[int] = []

    def similar(items: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        asked.extend(items.tolist())
        return np.asarray(sim[items], dtype=np.float32)

    full = Neighbours(similar, 50, top=50)
    cands, hist = np.array([3, 7, 11, 49]), np.array([0, 5, 9])
    assert np.allclose(full.similarity(cands, hist), sim[hist][:, cands].T)
    assert sorted(asked) == [0, 5, 9]  # only the history items were computed
    full.similarity(cands, hist)
    assert sorted(asked) == [0, 5, 9]  # and kept

    short = Neighbours(similar, 50, top=5)
    got = short.similarity(np.arange(50), hist)
    for j, h in enumerate(hist):
        kept = np.flatnonzero(got[:, j])
        assert len(kept) <= 5
        assert np.all(sim[h, kept] >= np.sort(sim[h])[-5])  # only the top five are kept


def test_fill_all_and_empty_inputs() -> None:
    sim = _dense(20, seed=1)
    n = Neighbours(lambda items: sim[items], 20, top=20)
    n.fill()
    assert n.similarity(np.zeros(0, dtype=np.intp), np.array([1])).shape == (0, 1)
    assert n.similarity(np.array([1]), np.zeros(0, dtype=np.intp)).shape == (1, 0)
    idx, scores = n.of(4)
    assert np.all(np.diff(idx) > 0)
    assert np.all(scores > 0)
