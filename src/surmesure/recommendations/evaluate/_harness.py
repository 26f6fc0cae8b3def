"""Fit models on a split, ask them for top-k lists, score the lists; tune on a
validation split with the same budget for every model.

A model is anything with ``implicit``'s two methods: ``fit(user_items)`` and
``recommend(userid, user_items, N, filter_already_liked_items, filter_items, items)``
(an array of user ids gives 2-D ``(ids, scores)``). ``evaluate`` takes, per name,
either such an estimator or a zero-argument factory that builds one; seeds are the
factory's business (``random_state=...``), so a run is reproducible when they are fixed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from surmesure.errors import InvalidInput

from ._baseline import MostPopular
from ._metrics import (
    ACCURACY_METRICS,
    catalogue_coverage,
    intra_list_diversity,
    item_popularity,
    novelty,
    ranking_metrics,
)
from ._metrics import serendipity as serendipity_at_k
from ._splits import Split, validation_split

__all__ = [
    "Comparison",
    "Contender",
    "ModelResult",
    "Recommender",
    "ResultTable",
    "Trial",
    "TuneResult",
    "compare",
    "evaluate",
    "recommend_lists",
    "tune",
]

IntArray = npt.NDArray[np.int64]


class Recommender(Protocol):
    """What evaluation needs of a model (``implicit``'s estimator API)."""

    def fit(self, user_items: csr_matrix) -> Any: ...

    def recommend(
        self,
        userid: Any,
        user_items: csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: Any = None,
        items: Any = None,
    ) -> tuple[Any, Any]: ...


ModelOrFactory = Recommender | Callable[[], Recommender]


def _build(model: ModelOrFactory) -> Recommender:
    """An estimator as it is; a factory (a class too) called with no argument."""
    if not isinstance(model, type) and hasattr(model, "fit") and hasattr(model, "recommend"):
        return model  # type: ignore[return-value]
    if callable(model):
        return model()
    raise InvalidInput("a model must have fit and recommend, or be a factory of one")


def recommend_lists(
    model: Recommender,
    train: csr_matrix,
    users: IntArray,
    k: int,
    *,
    filter_seen: bool = True,
    batch_size: int = 1024,
) -> IntArray:
    """``(len(users), k)`` item indices from ``model.recommend``, padded with ``-1``.

    ``implicit`` fills the slots it has no item for with filtered items scored
    ``-FLT_MAX`` (and, past the catalogue size, with item 0 again): a slot whose score
    is not above ``-FLT_MAX``, or whose item already came earlier in the list, is padding.
    """
    out = np.full((users.size, k), -1, dtype=np.int64)
    n = min(k, train.shape[1])
    floor = float(np.finfo(np.float32).min)
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        ids, scores = model.recommend(batch, train[batch], N=n, filter_already_liked_items=filter_seen)
        ids = np.asarray(ids, dtype=np.int64).reshape(batch.size, -1)[:, :n]
        scores = np.asarray(scores, dtype=np.float64).reshape(batch.size, -1)[:, :n]
        width = ids.shape[1]
        earlier = np.tril(np.ones((width, width), dtype=bool), -1)
        repeated = ((ids[:, :, None] == ids[:, None, :]) & earlier).any(axis=2)
        valid = np.isfinite(scores) & (scores > floor) & ~repeated & (ids >= 0)
        out[start : start + batch.size, :width] = np.where(valid, ids, -1)
    return out


@dataclass(frozen=True)
class ModelResult:
    """One model's row: metrics by name (``"ndcg@10"``...) and times."""

    name: str
    metrics: dict[str, float]
    fit_seconds: float
    recommend_seconds: float
    n_users: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def recommend_ms_per_user(self) -> float:
        return 1000.0 * self.recommend_seconds / max(self.n_users, 1)


@dataclass(frozen=True)
class ResultTable:
    """The models' rows, the cut-offs, and what split they were measured on."""

    rows: list[ModelResult]
    k: int  # the main cut-off: the one beyond-accuracy metrics use
    ks: tuple[int, ...]  # every cut-off accuracy is measured at, k among them
    split: str

    def metric_names(self) -> list[str]:
        names: list[str] = []
        for row in self.rows:
            names.extend(n for n in row.metrics if n not in names)
        return names

    def best(self, metric: str, *, among: Iterable[str] | None = None) -> ModelResult:
        pool = [r for r in self.rows if among is None or r.name in set(among)]
        if not pool:
            raise InvalidInput("no model to choose from", among=list(among or []))
        return max(pool, key=lambda r: r.metrics.get(metric, float("-inf")))

    def __getitem__(self, name: str) -> ModelResult:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def as_dicts(self) -> list[dict[str, Any]]:
        """One flat dict per model (for JSON or CSV)."""
        return [
            {
                "model": r.name,
                **r.metrics,
                "fit_s": r.fit_seconds,
                "recommend_ms_per_user": r.recommend_ms_per_user,
                **({"params": r.params} if r.params else {}),
            }
            for r in self.rows
        ]


def _ks(k: int, more: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(sorted({k, *more}))
    if ks[0] < 1:
        raise InvalidInput("every k must be positive", k=list(ks))
    return ks


def evaluate(
    models: Mapping[str, ModelOrFactory],
    split: Split,
    *,
    k: int = 10,
    ks: Iterable[int] = (),
    item_vectors: Any = None,
    item_categories: npt.ArrayLike | None = None,
    beyond_accuracy: bool = True,
    batch_size: int = 1024,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResultTable:
    """Fit each model on ``split.train`` and score its lists for ``split.users``.

    Accuracy at ``k`` and at every cut-off of ``ks``; at ``k`` also catalogue coverage, novelty,
    serendipity (against :class:`MostPopular`'s lists) and intra-list diversity
    (from ``item_categories`` if given, else ``item_vectors``, else the item columns
    of the train matrix: items are similar when the same people had them).
    """
    cutoffs = _ks(k, ks)
    longest = cutoffs[-1]
    relevant = split.test[split.users]
    expected: IntArray | None = None
    if beyond_accuracy:
        popular = MostPopular().fit(split.train)
        expected = recommend_lists(popular, split.train, split.users, k, filter_seen=split.filter_seen)
        counts = item_popularity(split.train)
        if item_categories is None and item_vectors is None:
            item_vectors = split.train.T.tocsr()
    rows: list[ModelResult] = []
    for name, spec in models.items():
        model = _build(spec)
        started = time.perf_counter()
        model.fit(split.train)
        fitted = time.perf_counter()
        recs = recommend_lists(
            model, split.train, split.users, longest, filter_seen=split.filter_seen, batch_size=batch_size
        )
        done = time.perf_counter()
        metrics = ranking_metrics(recs, relevant, cutoffs)
        recs = recs[:, :k]
        if beyond_accuracy:
            assert expected is not None
            metrics["coverage"] = catalogue_coverage(recs, split.train.shape[1])
            metrics["diversity"] = intra_list_diversity(
                recs,
                item_categories=item_categories,
                item_vectors=None if item_categories is not None else item_vectors,
            )
            metrics["novelty"] = novelty(recs, counts, split.train.shape[0])
            metrics["serendipity"] = serendipity_at_k(recs, relevant, expected, k)
        rows.append(
            ModelResult(
                name,
                metrics,
                fit_seconds=fitted - started,
                recommend_seconds=done - fitted,
                n_users=int(split.users.size),
                params=dict((params or {}).get(name, {})),
            )
        )
    return ResultTable(rows, k, cutoffs, split.describe())


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    score: float
    fit_seconds: float


@dataclass(frozen=True)
class TuneResult:
    """The best hyper-parameters found, and every trial in the order it ran."""

    best_params: dict[str, Any]
    best_score: float
    metric: str
    trials: list[Trial]
    factory: Callable[..., Recommender]
    seconds: float = 0.0  # the whole search

    def best_factory(self) -> Callable[[], Recommender]:
        """A zero-argument factory of the best configuration (for :func:`evaluate`)."""
        return partial(self.factory, **self.best_params)


def tune(
    factory: Callable[..., Recommender],
    grid: Mapping[str, Sequence[Any]],
    validation: Split,
    *,
    k: int = 10,
    budget: int = 8,
    metric: str = "ndcg",
    seed: int = 0,
    time_budget_s: float | None = None,
) -> TuneResult:
    """Grid (or, past ``budget`` configurations, seeded random) search on a validation split.

    Every model tuned with the same ``budget`` (number of fits) and ``time_budget_s``
    (no new fit starts after it; the first always runs) gets the same chance.
    ``metric`` is one of recall, ndcg, map, hit_rate, precision, taken at ``k``.
    """
    if budget < 1:
        raise InvalidInput("budget must be at least 1", budget=budget)
    if metric not in ACCURACY_METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(ACCURACY_METRICS)}", metric=metric)
    names = list(grid)
    configs = [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]
    if len(configs) > budget:
        picked = np.sort(np.random.default_rng(seed).choice(len(configs), size=budget, replace=False))
        configs = [configs[i] for i in picked]
    relevant = validation.test[validation.users]
    key = f"{metric}@{k}"
    trials: list[Trial] = []
    started = time.perf_counter()
    for config in configs:
        if trials and time_budget_s is not None and time.perf_counter() - started > time_budget_s:
            break
        model = factory(**config)
        t0 = time.perf_counter()
        model.fit(validation.train)
        fit_s = time.perf_counter() - t0
        recs = recommend_lists(
            model, validation.train, validation.users, k, filter_seen=validation.filter_seen
        )
        trials.append(Trial(config, ranking_metrics(recs, relevant, [k])[key], fit_s))
    best = max(trials, key=lambda t: (np.nan_to_num(t.score, nan=-np.inf), -trials.index(t)))
    return TuneResult(best.params, best.score, key, trials, factory, time.perf_counter() - started)


#: a factory taking hyper-parameters as keywords, and its grid (``{}``: used as it is)
Contender = tuple[Callable[..., Recommender], Mapping[str, Sequence[Any]]]


@dataclass(frozen=True)
class Comparison:
    """The test table of every contender, and how each tuned one was tuned."""

    table: ResultTable
    tuning: dict[str, TuneResult]
    validation: Split


def compare(
    contenders: Mapping[str, Contender],
    split: Split,
    *,
    k: int = 10,
    ks: Iterable[int] = (),
    budget: int = 8,
    time_budget_s: float | None = None,
    metric: str = "ndcg",
    seed: int = 0,
    validation: Split | None = None,
    on_tuned: Callable[[str, TuneResult], None] | None = None,
    **options: Any,
) -> Comparison:
    """Tune every contender with a grid on the validation split (the same ``budget`` and
    ``time_budget_s`` for each), then :func:`evaluate` all with their best parameters.

    ``validation`` defaults to :func:`validation_split` of ``split``; ``options`` go to
    :func:`evaluate` (``item_categories``, ``item_vectors``...).
    """
    valid = validation if validation is not None else validation_split(split)
    final: dict[str, ModelOrFactory] = {}
    params: dict[str, dict[str, Any]] = {}
    tuning: dict[str, TuneResult] = {}
    for name, (factory, grid) in contenders.items():
        if not grid:
            final[name] = factory
            continue
        result = tune(
            factory, grid, valid, k=k, budget=budget, metric=metric, seed=seed, time_budget_s=time_budget_s
        )
        final[name], params[name], tuning[name] = result.best_factory(), result.best_params, result
        if on_tuned is not None:
            on_tuned(name, result)
    table = evaluate(final, split, k=k, ks=ks, params=params, **options)
    return Comparison(table, tuning, valid)
