"""Offline evaluation of recommenders: splits, metrics, a harness, tuning, reports.

Pure NumPy/SciPy (matplotlib only when plotting); no database, no HTTP. A model is
anything with ``implicit``'s ``fit(user_items)`` and ``recommend(userid, user_items,
N, filter_already_liked_items, filter_items, items)``, so ``implicit``'s estimators,
ours and :class:`MostPopular` are measured the same way::

    data = Interactions.from_arrays(users, items, weights, times_ms)
    split = temporal_split(data, test_fraction=0.2)
    als = tune(lambda **p: AlternatingLeastSquares(random_state=0, **p),
               {"factors": [32, 64], "regularization": [0.01, 0.1]},
               validation_split(split), k=10, budget=4)
    table = evaluate({"popularity": MostPopular, "als": als.best_factory()}, split, k=10, ks=[5, 20])
    print(markdown_table(table)); plot_metrics(table, Path("report"))

or, tuning every contender with the same budget and evaluating them in one call::

    result = compare({"popularity": (MostPopular, {}), "als": (als_factory, grid)}, split, budget=6)

``_splits`` (interaction arrays, temporal and leave-last-out splits) · ``_metrics``
(accuracy and beyond-accuracy metrics of top-k lists) · ``_baseline`` (``MostPopular``)
· ``_harness`` (``evaluate``, ``tune``, ``compare``) · ``_report`` (Markdown, Rich, PNG).
"""

from __future__ import annotations

from ._baseline import MostPopular
from ._harness import (
    Comparison,
    Contender,
    ModelResult,
    Recommender,
    ResultTable,
    Trial,
    TuneResult,
    compare,
    evaluate,
    recommend_lists,
    tune,
)
from ._metrics import (
    ACCURACY_METRICS,
    catalogue_coverage,
    hits_at_k,
    intra_list_diversity,
    item_popularity,
    map_at_k,
    ndcg_at_k,
    novelty,
    ranking_metrics,
    recall_at_k,
    serendipity,
)
from ._report import markdown_table, plot_metrics, rich_table
from ._splits import (
    Interactions,
    Split,
    SplitSpec,
    leave_last_out,
    temporal_split,
    train_times,
    validation_split,
)

__all__ = [
    "ACCURACY_METRICS",
    "Comparison",
    "Contender",
    "Interactions",
    "ModelResult",
    "MostPopular",
    "Recommender",
    "ResultTable",
    "Split",
    "SplitSpec",
    "Trial",
    "TuneResult",
    "catalogue_coverage",
    "compare",
    "evaluate",
    "hits_at_k",
    "intra_list_diversity",
    "item_popularity",
    "leave_last_out",
    "map_at_k",
    "markdown_table",
    "ndcg_at_k",
    "novelty",
    "plot_metrics",
    "ranking_metrics",
    "recall_at_k",
    "recommend_lists",
    "rich_table",
    "serendipity",
    "temporal_split",
    "train_times",
    "tune",
    "validation_split",
]
