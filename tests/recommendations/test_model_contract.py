"""The contract every recommender passes (in the spirit of implicit's
``RecommenderBaseTestMixin`` and scikit-learn's ``check_estimator``): fit returns self,
seeded determinism, seen items excluded when asked, implicit's ``recommend`` semantics,
a save/load round trip that gives identical answers, the not-fitted error, and a
known answer on two disjoint tastes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from recdata import DAY_MS, NOW_MS, Clusters, clusters, fit_kwargs
from scipy.sparse import csr_matrix

from surmesure.errors import Conflict
from surmesure.recommendations.algorithms import (
    ALS,
    EASE,
    ContentBased,
    Hybrid,
    ItemCooccurrence,
    Popularity,
    Recommender,
    SessionKNN,
    load_model,
)
from surmesure.recommendations.algorithms.private import PrivateEASE
from surmesure.recommendations.errors import InvalidModelFile, NotFittedError

MODELS: dict[str, Callable[[], Recommender]] = {
    "popularity": lambda: Popularity(),
    "popularity_by_category": lambda: Popularity(by_category=True),
    "trending": lambda: Popularity(half_life_days=7.0),
    "cooccurrence": lambda: ItemCooccurrence(),
    "bought_together_lift": lambda: ItemCooccurrence(similarity="lift", k=5),
    "ease": lambda: EASE(lambda_=10.0),
    # the private estimator's contract (bounded contributions); on 60 people any useful
    # epsilon drowns the tastes in noise: the mechanism has tests of its own (test_private_ease)
    "private_ease": lambda: PrivateEASE(epsilon=float("inf"), lambda_=10.0, max_items_per_person=8),
    # two tastes are a rank-2 structure; more factors overfit 360 interactions
    "als": lambda: ALS(factors=2, iterations=15, regularization=0.1, num_threads=1, random_state=7),
    "content": lambda: ContentBased(),
    "session": lambda: SessionKNN(),
    "hybrid": lambda: Hybrid(ease_lambda=10.0),
    "hybrid_with_als": lambda: Hybrid(ease_lambda=10.0, blend={"ease": 1.0, "als": 0.5, "popularity": 0.01}),
}
#: models that rank by a global popularity, not by the person's taste
UNPERSONALIZED = {"popularity", "trending"}
WITH_SIMILAR_ITEMS = set(MODELS) - {"popularity", "popularity_by_category", "trending"}

pytestmark = pytest.mark.parametrize("name", sorted(MODELS))


@pytest.fixture(scope="module")
def data() -> Clusters:
    return clusters()


def fitted(name: str, data: Clusters) -> Recommender:
    return MODELS[name]().fit(data.user_items, **fit_kwargs(data))


def test_fit_returns_self_and_learned_attributes_end_with_an_underscore(name: str, data: Clusters) -> None:
    model = MODELS[name]()
    assert not model.is_fitted()
    assert model.fit(data.user_items, **fit_kwargs(data)) is model
    assert model.is_fitted()
    assert model.n_items_ == data.n_items
    learned = {k for k in vars(model) if not k.startswith("_")} - set(model.get_params())
    assert learned
    assert all(k.endswith("_") for k in learned), learned


def test_init_only_stores_keyword_only_hyper_parameters(name: str) -> None:
    model = MODELS[name]()
    params = model.get_params()
    assert set(params) == {k for k in vars(model) if not k.startswith("_")}
    assert type(model)(**params).get_params() == params
    with pytest.raises(TypeError):
        type(model)(1.0)  # type: ignore[call-arg]


def test_used_before_fit_raises_not_fitted(name: str, data: Clusters, tmp_path: Path) -> None:
    model = MODELS[name]()
    with pytest.raises(NotFittedError) as caught:
        model.recommend(0, data.user_items[0])
    assert caught.value.code == "recommendations.not_fitted"
    assert isinstance(caught.value, Conflict)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "model")
    if name in WITH_SIMILAR_ITEMS:
        with pytest.raises(NotFittedError):
            model.similar_items(0)


def test_the_same_data_and_seed_give_the_same_recommendations(name: str, data: Clusters) -> None:
    users = np.arange(data.n_users)
    first = fitted(name, data).recommend(users, data.user_items[users], N=8)
    second = fitted(name, data).recommend(users, data.user_items[users], N=8)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_seen_items_are_excluded_when_asked(name: str, data: Clusters) -> None:
    model = fitted(name, data)
    users = np.arange(data.n_users)
    ids, _ = model.recommend(users, data.user_items, N=data.n_items)
    for user in users:
        seen = set(data.user_items[user].indices)
        assert not seen & set(ids[user][ids[user] >= 0])
    ids, _ = model.recommend(users, data.user_items, N=data.n_items, filter_already_liked_items=False)
    assert (ids >= 0).all(), "without the filter every item is ranked"


def test_recommend_follows_implicit_semantics(name: str, data: Clusters) -> None:
    model = fitted(name, data)
    ids, scores = model.recommend(3, data.user_items[3], N=5)
    assert ids.shape == scores.shape == (5,)
    assert ids.dtype == np.int32
    assert scores.dtype == np.float32
    assert (np.diff(scores) <= 0).all(), "best first"
    users = np.array([3, 40, 7])
    batch_ids, batch_scores = model.recommend(users, data.user_items[users], N=5)
    assert batch_ids.shape == batch_scores.shape == (3, 5)
    np.testing.assert_array_equal(batch_ids[0], ids)
    np.testing.assert_allclose(batch_scores[0], scores, rtol=1e-5, atol=1e-6)
    # a user with few candidates: 1-D gives only real items, 2-D pads with -1
    few = np.setdiff1d(np.arange(data.n_items), [0, 1])
    one, _ = model.recommend(3, data.user_items[3], N=5, filter_items=few)
    assert set(one) <= {0, 1} - set(data.user_items[3].indices)
    padded, padded_scores = model.recommend(np.array([3]), data.user_items[[3]], N=5, filter_items=few)
    assert (padded[0][len(one):] == -1).all()
    assert (padded_scores[0][len(one):] == -np.finfo(np.float32).max).all()
    # items restricts the ranking; filter_items removes; both at once is refused
    subset = np.array([2, 5, 13, 20])
    ranked, _ = model.recommend(3, data.user_items[3], N=10, items=subset, filter_already_liked_items=False)
    assert sorted(ranked) == sorted(subset)
    filtered, _ = model.recommend(3, data.user_items[3], N=data.n_items, filter_items=subset)
    assert not set(filtered) & set(subset)
    with pytest.raises(ValueError, match="both"):
        model.recommend(3, data.user_items[3], filter_items=[1], items=[2])
    with pytest.raises(ValueError, match="1 row for every user"):
        model.recommend(np.array([1, 2]), data.user_items[[1]])
    with pytest.raises(ValueError, match="CSR"):
        model.recommend(1, data.user_items[1].toarray())


def test_a_saved_model_loads_with_identical_recommendations(
    name: str, data: Clusters, tmp_path: Path
) -> None:
    model = fitted(name, data)
    model.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["format"] == "surmesure.model/1"
    assert meta["class"] == type(model).__name__
    with np.load(tmp_path / "model.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)
    for loaded in (type(model).load(tmp_path / "model.npz"), load_model(tmp_path / "model")):
        assert type(loaded) is type(model)
        assert loaded.get_params() == json.loads(json.dumps(model.get_params()))
        users = np.arange(data.n_users)
        before = model.recommend(users, data.user_items, N=10)
        after = loaded.recommend(users, data.user_items, N=10)
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])
        if name in WITH_SIMILAR_ITEMS:
            np.testing.assert_array_equal(model.similar_items(0)[0], loaded.similar_items(0)[0])
    other = EASE if not isinstance(model, EASE) else Popularity
    with pytest.raises(InvalidModelFile) as caught:
        other.load(tmp_path / "model")
    assert caught.value.code == "recommendations.invalid_model_file"


def test_known_answer_two_disjoint_tastes(name: str, data: Clusters) -> None:
    """A shoe person is recommended shoes, a hat person hats (a global popularity model
    instead returns the most popular items, in order)."""
    model = fitted(name, data)
    users = np.arange(data.n_users)
    ids, _ = model.recommend(users, data.user_items, N=4)
    if name in UNPERSONALIZED:
        if name == "popularity":
            expected = np.bincount(data.user_items.indices, minlength=data.n_items).astype(float)
        else:  # trending: each interaction counts 0.5 ** (age / 7 days)
            age_days = (NOW_MS - data.timestamps_ms.data) / DAY_MS
            expected = np.bincount(data.user_items.indices, 0.5 ** (age_days / 7), minlength=data.n_items)
        for user in users:
            unseen = np.setdiff1d(np.arange(data.n_items), data.user_items[user].indices)
            assert expected[ids[user][0]] == pytest.approx(expected[unseen].max(), rel=1e-5)
            assert (np.diff(expected[ids[user]]) <= 1e-9).all()
        return
    for user in users:
        clusters_of = {data.cluster_of_item(int(i)) for i in ids[user] if i >= 0}
        assert clusters_of == {data.cluster_of_user(int(user))}, (user, ids[user])


def test_similar_items_stay_in_their_taste(name: str, data: Clusters) -> None:
    model = fitted(name, data)
    if name not in WITH_SIMILAR_ITEMS:
        with pytest.raises(NotImplementedError):
            model.similar_items(0)
        return
    for item in (0, 5, data.half + 1):
        ids, scores = model.similar_items(item, N=3)
        assert item not in ids
        assert {data.cluster_of_item(int(i)) for i in ids} == {data.cluster_of_item(item)}
        assert (np.diff(scores) <= 0).all()


def test_an_empty_row_still_gets_recommendations(name: str, data: Clusters) -> None:
    """A new person: nothing to filter, still N answers (EASE, ALS... rank something)."""
    model = fitted(name, data)
    ids, _ = model.recommend(0, csr_matrix((1, data.n_items), dtype=np.float32), N=5)
    assert len(ids) == 5
