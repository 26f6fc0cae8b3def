"""Offline evaluation: splits, metrics against hand-computed values and against
``implicit``'s own evaluation, the harness, tuning and reports (tiny data only)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
from implicit.evaluation import ranking_metrics_at_k
from rich.console import Console
from scipy.sparse import csr_matrix

from surmesure.errors import InvalidInput
from surmesure.recommendations.evaluate import (
    Interactions,
    MostPopular,
    catalogue_coverage,
    compare,
    evaluate,
    hits_at_k,
    intra_list_diversity,
    item_popularity,
    leave_last_out,
    map_at_k,
    markdown_table,
    ndcg_at_k,
    novelty,
    plot_metrics,
    ranking_metrics,
    recall_at_k,
    recommend_lists,
    rich_table,
    serendipity,
    temporal_split,
    train_times,
    tune,
    validation_split,
)

pytestmark = pytest.mark.filterwarnings("ignore:OpenBLAS is configured")
DAY = 86_400_000


def _rel(rows: list[list[int]], n_items: int = 12) -> csr_matrix:
    data = np.zeros((len(rows), n_items), dtype=np.float32)
    for r, items in enumerate(rows):
        data[r, items] = 1.0
    return csr_matrix(data)


def _clustered(n_users: int = 40, n_items: int = 20, per_user: int = 6, seed: int = 0) -> Interactions:
    """Two tastes: even people buy from the first half of the catalogue, odd from the second."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    half = n_items // 2
    for u in range(n_users):
        base = 0 if u % 2 == 0 else half
        chosen = rng.choice(half, size=per_user, replace=False) + base
        users += [u] * per_user
        items += chosen.tolist()
        times += sorted(rng.integers(0, 100 * DAY, size=per_user).tolist())
    return Interactions.from_arrays(users, items, None, times, n_users=n_users, n_items=n_items)


class Quiet:
    """implicit's estimators, without their progress bar (fit takes show_progress)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, user_items: csr_matrix) -> Quiet:
        self.model.fit(user_items, show_progress=False)
        return self

    def recommend(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.recommend(*args, **kwargs)


def _als(**params: Any) -> Quiet:
    return Quiet(AlternatingLeastSquares(random_state=0, num_threads=1, **params))


# -- interactions and splits --------------------------------------------------------------


def test_interactions_refuse_misaligned_or_out_of_range_arrays() -> None:
    with pytest.raises(InvalidInput):
        Interactions.from_arrays([0, 1], [0])
    with pytest.raises(InvalidInput):
        Interactions.from_arrays([0, 5], [0, 1], n_users=3)
    with pytest.raises(InvalidInput):
        Interactions.from_arrays([0, 1], [-1, 1])


def test_the_matrix_sums_repeated_pairs_and_the_binary_one_does_not() -> None:
    data = Interactions.from_arrays([0, 0, 1], [2, 2, 0], [1.0, 2.0, 5.0])
    assert data.to_csr().toarray().tolist() == [[0, 0, 3], [5, 0, 0]]
    assert data.to_csr(binary=True).toarray().tolist() == [[0, 0, 1], [1, 0, 0]]


def test_temporal_split_trains_on_the_past_and_tests_people_with_a_history() -> None:
    # person 0: history then a new item; person 1: only after the cut (cold);
    # person 2: buys again what they had (not new) and one new item
    data = Interactions.from_arrays(
        user=[0, 0, 1, 2, 2, 2],
        item=[0, 1, 2, 3, 3, 4],
        time_ms=[1, 2, 10, 1, 10, 11],
        n_items=5,
    )
    split = temporal_split(data, cut_ms=10)
    assert [a.tolist() for a in split.train.toarray().nonzero()] == [[0, 0, 2], [0, 1, 3]]
    assert split.users.tolist() == [2]  # 0 has nothing after the cut, 1 is cold
    assert split.test.toarray()[2].tolist() == [0, 0, 0, 0, 1]  # the repeat of 3 is not relevant
    assert split.filter_seen

    cold = temporal_split(data, cut_ms=10, keep_cold_users=True)
    assert cold.users.tolist() == [1, 2]
    repeats = temporal_split(data, cut_ms=10, new_items_only=False)
    assert repeats.test.toarray()[2].tolist() == [0, 0, 0, 1, 1]
    assert not repeats.filter_seen


def test_temporal_split_cuts_at_the_test_fraction_without_a_cut_time() -> None:
    data = Interactions.from_arrays(np.arange(10) % 2, np.arange(10), time_ms=np.arange(10))
    split = temporal_split(data, test_fraction=0.3)
    assert split.stats["cut_ms"] == 7
    assert len(split.train_data) == 7
    with pytest.raises(InvalidInput):
        temporal_split(data, cut_ms=0)


def test_leave_last_out_holds_out_each_persons_last_interaction() -> None:
    data = Interactions.from_arrays(
        user=[0, 0, 0, 1, 1, 2], item=[0, 1, 2, 3, 4, 5], time_ms=[3, 1, 2, 1, 2, 1]
    )
    split = leave_last_out(data)
    assert split.users.tolist() == [0, 1]  # 2 has a single event: kept for training
    assert split.test.toarray()[0].nonzero()[0].tolist() == [0]
    assert split.test.toarray()[1].nonzero()[0].tolist() == [4]
    assert split.train[2].nnz == 1
    assert len(split.train_data) + len(split.test_data) == len(data)


def test_train_times_are_each_train_cells_latest_event_and_nothing_after_the_cut() -> None:
    data = Interactions.from_arrays(
        user=[0, 0, 0, 0, 1, 1, 1], item=[0, 0, 1, 2, 0, 3, 3], time_ms=[5, 9, 7, 20, 4, 8, 30]
    )
    split = temporal_split(data, cut_ms=10)
    times = train_times(split)
    assert times.shape == split.train.shape
    assert sorted(zip(*times.nonzero(), strict=True)) == sorted(zip(*split.train.nonzero(), strict=True))
    assert [times[0, 0], times[0, 1], times[1, 0], times[1, 3]] == [9, 7, 4, 8]
    assert times.max() < 10


def test_leave_last_out_breaks_ties_in_time_with_the_seed() -> None:
    data = Interactions.from_arrays(user=[0] * 6, item=range(6), time_ms=[5] * 6)
    held = {int(leave_last_out(data, seed=s).test.indices[0]) for s in range(12)}
    assert len(held) > 1
    again = [int(leave_last_out(data, seed=3).test.indices[0]) for _ in range(3)]
    assert len(set(again)) == 1


def test_leave_last_basket_and_last_day() -> None:
    data = Interactions.from_arrays(
        user=[0, 0, 0, 0],
        item=[0, 1, 2, 3],
        time_ms=[DAY + 5, 2 * DAY + 1, 2 * DAY + 9, 2 * DAY + 9],
        basket=[7, 8, 9, 9],
    )
    assert leave_last_out(data, unit="basket").test.indices.tolist() == [2, 3]
    assert leave_last_out(data, unit="day").test.indices.tolist() == [1, 2, 3]
    with pytest.raises(InvalidInput):
        leave_last_out(Interactions.from_arrays([0, 0], [0, 1]), unit="basket")


def test_max_test_users_samples_with_the_seed() -> None:
    split = leave_last_out(_clustered(), max_test_users=5, seed=1)
    assert split.users.size == 5
    assert set(np.flatnonzero(np.diff(split.test.indptr))) == set(split.users)
    assert leave_last_out(_clustered(), max_test_users=5, seed=1).users.tolist() == split.users.tolist()


def test_validation_is_carved_from_train_the_same_way() -> None:
    data = _clustered()
    split = temporal_split(data, test_fraction=0.25)
    valid = validation_split(split)
    assert valid.spec.kind == "temporal"
    assert len(valid.train_data) + len(valid.test_data) <= len(split.train_data)
    assert valid.stats["cut_ms"] < split.stats["cut_ms"]
    assert valid.train_data.time_ms.max() < valid.stats["cut_ms"] <= split.train_data.time_ms.max()

    lo = leave_last_out(data)
    lo_valid = validation_split(lo)
    assert lo_valid.spec.unit == "interaction"
    assert lo_valid.train.nnz < lo.train.nnz
    # never a test pair inside the validation train
    assert lo_valid.train.multiply(lo.test).nnz == 0


# -- accuracy metrics: hand-computed ----------------------------------------------------------

RECS = np.array([[1, 2, 3], [4, 5, 6], [0, 7, -1]])
RELEVANT = _rel([[2, 9], [7], [7, 0, 11]])


def test_hits_mark_relevant_slots_and_never_padding() -> None:
    assert hits_at_k(RECS, RELEVANT).tolist() == [
        [False, True, False],
        [False, False, False],
        [True, True, False],
    ]


def test_accuracy_metrics_match_hand_computed_values() -> None:
    g2, g3 = 1 / math.log2(3), 1 / math.log2(4)
    recall = [1 / 2, 0.0, 2 / 3]
    ndcg = [g2 / (1 + g2), 0.0, (1 + g2) / (1 + g2 + g3)]
    ap = [(1 / 2) / 2, 0.0, (1 + 1) / 3]
    m = ranking_metrics(RECS, RELEVANT, [3])
    assert m["recall@3"] == pytest.approx(np.mean(recall))
    assert m["ndcg@3"] == pytest.approx(np.mean(ndcg))
    assert m["map@3"] == pytest.approx(np.mean(ap))
    assert m["hit_rate@3"] == pytest.approx(2 / 3)
    assert m["precision@3"] == pytest.approx(np.mean([1 / 3, 0, 2 / 3]))
    assert recall_at_k(RECS, RELEVANT, 3) == pytest.approx(m["recall@3"])
    assert ndcg_at_k(RECS, RELEVANT, 3) == pytest.approx(m["ndcg@3"])
    assert map_at_k(RECS, RELEVANT, 3) == pytest.approx(m["map@3"])


def test_shorter_cutoffs_use_the_prefix_and_the_ideal_list_is_capped_at_k() -> None:
    m = ranking_metrics(RECS, RELEVANT, [1, 3])
    # at k=1 only person 2 hits; their ideal list has one slot, so NDCG@1 = 1
    assert m["ndcg@1"] == pytest.approx(1 / 3)
    assert m["recall@1"] == pytest.approx((1 / 3) / 3)
    assert m["map@1"] == pytest.approx(1 / 3)


def test_people_without_relevant_items_are_left_out_and_k_is_checked() -> None:
    recs = np.array([[1, 2], [3, 4]])
    assert recall_at_k(recs, _rel([[1], []]), 2) == pytest.approx(1.0)
    with pytest.raises(InvalidInput):
        recall_at_k(recs, _rel([[1], []]), 3)
    with pytest.raises(InvalidInput):
        recall_at_k(recs, _rel([[1]]), 2)


def test_ndcg_map_and_micro_precision_agree_with_implicit_evaluation() -> None:
    """Same fitted model, same split: implicit's ndcg_at_k and map are ours; its
    "precision" is the micro average Σ hits / Σ min(k, |rel|)."""
    data = _clustered(n_users=60, n_items=30, per_user=8)
    split = leave_last_out(data, unit="day")
    model = AlternatingLeastSquares(factors=4, iterations=5, random_state=0, num_threads=1)
    model.fit(split.train, show_progress=False)
    k = 5
    theirs = ranking_metrics_at_k(model, split.train, split.test, K=k, show_progress=False, num_threads=1)
    recs = recommend_lists(model, split.train, split.users, k)
    relevant = split.test[split.users]
    ours = ranking_metrics(recs, relevant, [k])
    assert ours["ndcg@5"] == pytest.approx(theirs["ndcg"], rel=1e-5)
    assert ours["map@5"] == pytest.approx(theirs["map"], rel=1e-5)
    hits = hits_at_k(recs, relevant).sum()
    capped = np.minimum(np.diff(relevant.indptr), k).sum()
    assert hits / capped == pytest.approx(theirs["precision"], rel=1e-5)


# -- beyond accuracy -----------------------------------------------------------------------


def test_coverage_counts_distinct_items_shown() -> None:
    assert catalogue_coverage(RECS, 12) == pytest.approx(8 / 12)  # 0..7; padding is no item


def test_novelty_is_the_mean_self_information_of_the_items() -> None:
    popularity = np.array([8, 4, 1, 0])  # of 8 people
    recs = np.array([[0, 1], [2, 3], [1, -1]])
    expected = np.mean([(0 + 1) / 2, (3 + 3) / 2, 1.0])
    assert novelty(recs, popularity, 8) == pytest.approx(expected)
    assert item_popularity(csr_matrix([[1, 0, 2], [1, 0, 0]])).tolist() == [2, 0, 1]


def test_intra_list_diversity_from_categories_and_from_vectors() -> None:
    categories = np.array([0, 0, 1, -1])
    recs = np.array([[0, 1, 2], [2, 3, -1], [0, -1, -1]])
    # list 0: pairs (0,1) same, (0,2) and (1,2) differ -> 1 - 1/3; list 1: one pair, unknown -> 1;
    # list 2: no pair, left out
    assert intra_list_diversity(recs, item_categories=categories) == pytest.approx(np.mean([2 / 3, 1.0]))
    vectors = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    c = 1 / math.sqrt(2)
    dense = intra_list_diversity(recs, item_vectors=vectors)
    assert dense == pytest.approx(np.mean([1 - (1 + 0 + 0) / 3, 1 - c]))
    assert intra_list_diversity(recs, item_vectors=csr_matrix(vectors)) == pytest.approx(dense)
    with pytest.raises(InvalidInput):
        intra_list_diversity(recs)


def test_serendipity_counts_relevant_items_the_baseline_would_not_show() -> None:
    # person 0 hits 2 (obvious) ; person 2 hits 0 (obvious) and 7 (unexpected)
    assert serendipity(RECS, RELEVANT, np.array([2, 0]), 3) == pytest.approx((0 + 0 + 1 / 3) / 3)
    per_person = np.array([[5, 5], [5, 5], [7, 5]])
    assert serendipity(RECS, RELEVANT, per_person, 3) == pytest.approx((1 / 3 + 0 + 1 / 3) / 3)


# -- the popularity baseline and recommend_lists ------------------------------------------------


def test_most_popular_ranks_by_people_and_follows_implicits_semantics() -> None:
    train = csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [5, 0, 0, 0]], np.float32))
    model = MostPopular().fit(train)
    ids, scores = model.recommend(0, train[0], N=3)
    assert ids.tolist() == [2, 3, -1]
    assert scores[-1] == -np.inf
    ids2, _ = model.recommend(np.array([0, 3]), train[[0, 3]], N=2, filter_already_liked_items=False)
    assert ids2.tolist() == [[1, 0], [1, 0]]
    assert model.recommend(3, train[3], N=2, items=[2, 3])[0].tolist() == [2, 3]
    assert model.recommend(3, train[3], N=2, filter_items=[1])[0].tolist() == [2, 3]
    weighted = MostPopular(by="weight").fit(train)
    assert weighted.recommend(1, train[1], N=1, filter_already_liked_items=False)[0].tolist() == [0]


def test_recommend_lists_pads_what_implicit_fills_with_filtered_or_repeated_items() -> None:
    train = csr_matrix(np.array([[1, 1, 0], [0, 0, 1]], np.float32))
    model = AlternatingLeastSquares(factors=2, iterations=2, random_state=0, num_threads=1)
    model.fit(train, show_progress=False)
    recs = recommend_lists(model, train, np.array([0, 1]), 5)
    assert recs.shape == (2, 5)
    assert recs[0].tolist() == [2, -1, -1, -1, -1]
    assert sorted(recs[1, :2].tolist()) == [0, 1]
    assert recs[1, 2:].tolist() == [-1, -1, -1]


# -- harness, tuning, reports -------------------------------------------------------------------


def test_evaluate_measures_every_model_on_the_same_split() -> None:
    split = leave_last_out(_clustered(n_users=60, n_items=20, per_user=6))
    table = evaluate(
        {"popularity": MostPopular, "als": lambda: _als(factors=4, iterations=10)},
        split,
        k=5,
        ks=[3],
    )
    assert [r.name for r in table.rows] == ["popularity", "als"]
    assert table.k == 5
    assert table.ks == (3, 5)
    for row in table.rows:
        assert {"ndcg@3", "ndcg@5", "recall@5", "map@5", "hit_rate@5", "coverage", "novelty"} <= set(
            row.metrics
        )
        assert row.fit_seconds >= 0
        assert row.recommend_seconds >= 0
        assert row.n_users == split.users.size
        assert 0 <= row.metrics["diversity"] <= 1
    # two tastes: the factor model finds them, global popularity cannot
    assert table["als"].metrics["ndcg@5"] > table["popularity"].metrics["ndcg@5"]
    assert table["popularity"].metrics["serendipity"] == 0.0
    assert table.best("ndcg@5").name == "als"
    assert table.as_dicts()[0]["model"] == "popularity"


def test_evaluate_is_deterministic_with_seeded_factories() -> None:
    split = leave_last_out(_clustered())

    def bpr() -> Quiet:
        return Quiet(BayesianPersonalizedRanking(factors=4, iterations=5, random_state=3, num_threads=1))

    models = {"bpr": bpr}
    first = evaluate(models, split, k=5, beyond_accuracy=False)
    second = evaluate(models, split, k=5, beyond_accuracy=False)
    assert first.rows[0].metrics == second.rows[0].metrics
    assert "coverage" not in first.rows[0].metrics


def test_tune_spends_the_same_budget_and_keeps_the_best() -> None:
    valid = validation_split(leave_last_out(_clustered(n_users=60)))
    grid: dict[str, list[Any]] = {"factors": [2, 4, 8], "regularization": [0.01, 0.1], "iterations": [5]}
    result = tune(_als, grid, valid, k=5, budget=4, seed=0)
    assert len(result.trials) == 4
    assert result.best_score == max(t.score for t in result.trials)
    assert result.metric == "ndcg@5"
    assert tune(_als, grid, valid, k=5, budget=4, seed=0).best_params == result.best_params
    full = tune(_als, {"factors": [2, 4], "iterations": [5]}, valid, k=5, budget=10)
    assert [t.params["factors"] for t in full.trials] == [2, 4]
    assert isinstance(result.best_factory()(), Quiet)
    stopped = tune(_als, grid, valid, k=5, budget=6, time_budget_s=0.0)
    assert len(stopped.trials) == 1
    with pytest.raises(InvalidInput):
        tune(_als, grid, valid, metric="auc")
    with pytest.raises(InvalidInput):
        tune(_als, grid, valid, budget=0)


def test_compare_tunes_each_contender_with_the_same_budget_then_evaluates_all() -> None:
    split = leave_last_out(_clustered(n_users=60))
    seen: list[str] = []
    result = compare(
        {
            "popularity": (MostPopular, {}),
            "als": (_als, {"factors": [2, 4, 8], "iterations": [5]}),
            "als-big": (_als, {"factors": [16, 32], "regularization": [0.01, 0.1, 1.0]}),
        },
        split,
        k=5,
        budget=2,
        on_tuned=lambda name, _: seen.append(name),
    )
    assert [r.name for r in result.table.rows] == ["popularity", "als", "als-big"]
    assert seen == ["als", "als-big"]
    assert all(len(t.trials) == 2 for t in result.tuning.values())
    assert result.table["als"].params == result.tuning["als"].best_params
    assert result.table["popularity"].params == {}
    assert result.validation.train.nnz < split.train.nnz


def test_the_table_as_markdown_rich_and_png(tmp_path: Path) -> None:
    split = leave_last_out(_clustered())
    table = evaluate({"popularity": MostPopular, "als": lambda: _als(factors=2)}, split, k=4, ks=[2, 6])
    text = markdown_table(table)
    assert text.splitlines()[0].startswith("| model | recall@4 | ndcg@4 | map@4 | hit_rate@4 | coverage")
    assert "| popularity |" in text
    assert "| als |" in text
    console = Console(record=True, width=200)
    console.print(rich_table(table, title="tiny"))
    assert "popularity" in console.export_text()
    files = plot_metrics(table, tmp_path / "plots", prefix="tiny-")
    assert sorted(p.name for p in files) == [
        "tiny-accuracy.png",
        "tiny-beyond_accuracy.png",
        "tiny-by_k.png",
        "tiny-time.png",
    ]
    for path in files:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
