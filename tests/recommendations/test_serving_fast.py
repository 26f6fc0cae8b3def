"""The serving fast paths give the answers of the general ones: one visitor's row scored
by adding a few rows of an item-item matrix (``row_times``) instead of a sparse product,
candidates that are already sorted are not sorted again, a plain ranking is not a greedy
loop, and the query string is read by one model validation."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from recdata import clusters, fit_kwargs
from scipy.sparse import csr_matrix, random_array, vstack

from surmesure.recommendations.algorithms import Hybrid
from surmesure.recommendations.algorithms._sparse import row_times
from surmesure.recommendations.algorithms.base import _sorted_unique
from surmesure.recommendations.algorithms.content import ContentBased
from surmesure.recommendations.algorithms.cooccurrence import ItemCooccurrence
from surmesure.recommendations.algorithms.session import SessionKNN
from surmesure.recommendations.api import RecommendationParams, _params, _query_parameters
from surmesure.recommendations.neighbours import Neighbours
from surmesure.recommendations.rerank import Ranked, select_diverse


@pytest.mark.parametrize("seed", range(5))
def test_row_times_is_the_sparse_product(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = csr_matrix(random_array((40, 30), density=0.2, rng=rng, dtype=np.float32))
    cols = rng.integers(0, 40, size=6)  # duplicates on purpose
    row = csr_matrix((rng.random(6).astype(np.float32), (np.zeros(6, dtype=int), cols)), shape=(1, 40))
    expected = np.asarray((row @ matrix).todense()).reshape(-1)
    np.testing.assert_allclose(row_times(row, matrix), expected, rtol=1e-5, atol=1e-7)


def test_row_times_of_an_empty_row_and_rows_without_values() -> None:
    matrix = csr_matrix((np.ones(1, dtype=np.float32), ([0], [2])), shape=(3, 4))
    assert row_times(csr_matrix((1, 3), dtype=np.float32), matrix).tolist() == [0.0] * 4
    row = csr_matrix((np.ones(1, dtype=np.float32), ([0], [1])), shape=(1, 3))  # item 1: an empty row
    assert row_times(row, matrix).tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="one row"):
        row_times(csr_matrix((2, 3)), matrix)


def test_one_row_scores_as_in_a_batch() -> None:
    data = clusters()
    kwargs = fit_kwargs(data)
    models = [
        ItemCooccurrence().fit(data.user_items),
        SessionKNN().fit(data.sessions),
        ContentBased().fit(data.user_items, item_table=data.table),
        Hybrid().fit(data.user_items, **kwargs),
    ]
    for user in (0, 7, data.n_users - 1):
        row = csr_matrix(data.user_items[user])
        batch = csr_matrix(vstack([row, data.user_items[(user + 1) % data.n_users]]))
        for model in models:
            one = model._scores(np.zeros(1, dtype=np.intp), row, False)
            both = model._scores(np.zeros(2, dtype=np.intp), batch, False)
            assert one.shape == (1, data.n_items)
            np.testing.assert_allclose(one[0], both[0], rtol=1e-5, atol=1e-6, err_msg=type(model).__name__)


def test_sorted_unique() -> None:
    assert _sorted_unique([1, 4, 9]).tolist() == [1, 4, 9]
    assert _sorted_unique([4, 1, 4, 9]).tolist() == [1, 4, 9]
    assert _sorted_unique([]).tolist() == []
    assert _sorted_unique(np.arange(5)).dtype == np.intp


def test_select_diverse_on_relevance_alone_is_the_greedy_pass() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(0, 30))
        scores = np.sort(rng.integers(0, 5, size=n).astype(np.float64))[::-1]  # ties on purpose
        ranked = Ranked(rng.permutation(100)[:n], scores)
        k = int(rng.integers(0, 12))
        fast = select_diverse(ranked, k)
        greedy = select_diverse(ranked, k, max_per_category=k + 1)  # a cap never reached: the loop
        assert fast.items.tolist() == greedy.items.tolist()


def _request(query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []})


def test_query_parameters_read_by_hand() -> None:
    params = _params(_request(b"user_id=u1&k=5&categories=A&categories=B&in_stock=false&k=7&pin=s1:0"))
    assert params.user_id == "u1"
    assert params.k == 7  # a repeated plain parameter: the last value, as FastAPI
    assert params.categories == ["A", "B"]
    assert params.pin == ["s1:0"]
    assert params.in_stock is False
    for bad in (b"k=0", b"context=nowhere", b"unknown=1", b"user_id="):
        with pytest.raises(RequestValidationError) as raised:
            _params(_request(bad))
        assert raised.value.errors()[0]["loc"][0] == "query"
    documented = {p["name"] for p in _query_parameters()}
    assert documented == set(RecommendationParams.model_fields)


def test_neighbour_similarity_in_one_search_is_the_lookup_per_list() -> None:
    rng = np.random.default_rng(7)
    sim = rng.random((60, 60)).astype(np.float32)
    sim[sim < 0.6] = 0.0
    sim[13] = 0.0  # an item without any neighbour
    lists = Neighbours(lambda items: sim[items], 60, top=8)
    cands = rng.integers(0, 60, size=25)
    hist = np.array([13, 4, 59, 4, 0])  # a repeated item, an empty list
    got = lists.similarity(cands, hist)
    expected = np.zeros_like(got)
    for j, h in enumerate(hist.tolist()):
        idx, scores = lists.of(h)
        for i, c in enumerate(cands.tolist()):
            expected[i, j] = scores[idx == c][0] if c in idx else 0.0
    assert np.array_equal(got, expected)
    assert not got[:, 0].any()
