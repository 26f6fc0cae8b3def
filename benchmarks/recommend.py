"""Offline recommendation quality on the real datasets: our models against peers,
on the same split, in one run (issue #3, point 9, the evaluation half).

    .venv/bin/python benchmarks/recommend.py                       # both datasets, temporal split
    .venv/bin/python benchmarks/recommend.py --split leave-last-basket --dataset uci-online-retail
    .venv/bin/python benchmarks/recommend.py --no-ours --budget 4  # peers only, smaller search

For each dataset (read in place from --datasets, else $SURMESURE_DATASETS, else
../shared/datasets beside the repository): one split; a validation split carved from
its train part the same way; every tunable model gets the same search budget (number
of fits, and a time cap) on the validation split; then each model, with its best
parameters, is fitted on the whole train part and scored on the test part. Peers:
popularity, ``implicit``'s ALS and BPR. Ours come from
``surmesure.recommendations.algorithms`` when it is importable. Prints the table and
the ratio of our default model's NDCG@10 to the best peer's; writes a JSON file and
PNG plots under benchmarks/results/recommend/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from surmesure.recommendations.datasets import DATASETS, ENV_VAR, Dataset, datasets_root, load_dataset
from surmesure.recommendations.evaluate import (
    Contender,
    MostPopular,
    Recommender,
    Split,
    TuneResult,
    compare,
    leave_last_out,
    markdown_table,
    plot_metrics,
    rich_table,
    temporal_split,
    validation_split,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "recommend"
DEFAULT_DATASETS = HERE.parent.parent / "shared" / "datasets"
SPLITS = ("temporal", "leave-last-out", "leave-last-basket")
PEERS = ("popularity", "implicit-als", "implicit-bpr")
#: our model whose NDCG@10 is compared with the best peer's
OUR_DEFAULT = "hybrid"


class Implicit:
    """An ``implicit`` estimator built from keyword hyper-parameters, fitted quietly."""

    def __init__(self, cls: Any, **params: Any) -> None:
        self.model = cls(**params)

    def fit(self, user_items: csr_matrix) -> Implicit:
        self.model.fit(user_items, show_progress=False)
        return self

    def recommend(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.recommend(*args, **kwargs)


def peers(seed: int, threads: int) -> dict[str, Contender]:
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking

    def als(**p: Any) -> Recommender:
        return Implicit(AlternatingLeastSquares, random_state=seed, num_threads=threads, **p)

    def bpr(**p: Any) -> Recommender:
        return Implicit(BayesianPersonalizedRanking, random_state=seed, num_threads=threads, **p)

    return {
        "popularity": (MostPopular, {}),
        "implicit-als": (
            als,
            {
                "factors": [32, 64, 128],
                "regularization": [0.01, 0.1, 1.0],
                "alpha": [1.0, 10.0, 40.0],
                "iterations": [15],
            },
        ),
        "implicit-bpr": (
            bpr,
            {
                "factors": [32, 64, 128],
                "learning_rate": [0.01, 0.05, 0.1],
                "regularization": [0.001, 0.01],
                "iterations": [100],
            },
        ),
    }


def ours(seed: int, threads: int) -> dict[str, Contender]:
    """Our models, from the recommender core if it is there (else none).

    TODO(#3): grids chosen with the models' author; models whose ``fit`` wants more
    than the matrix (timestamps for trending popularity, item categories, content)
    need an adapter here that passes what the split knows.
    """
    try:
        algorithms = importlib.import_module("surmesure.recommendations.algorithms")
    except ImportError:
        return {}
    found: dict[str, Contender] = {}
    if hasattr(algorithms, "EASE"):
        found["ease"] = (algorithms.EASE, {"lambda_": [50.0, 200.0, 500.0, 1000.0]})
    if hasattr(algorithms, "ItemCooccurrence"):
        found["cooccurrence"] = (algorithms.ItemCooccurrence, {"k": [50, 100, 200], "shrink": [0.0, 10.0]})
    if hasattr(algorithms, "Hybrid"):
        found[OUR_DEFAULT] = (lambda **p: algorithms.Hybrid(random_state=seed, **p), {})
    return found


def make_split(data: Dataset, how: str, test_fraction: float, max_test_users: int | None, seed: int) -> Split:
    if how == "temporal":
        return temporal_split(
            data.interactions, test_fraction=test_fraction, max_test_users=max_test_users, seed=seed
        )
    unit: Literal["basket", "interaction"] = "basket" if how == "leave-last-basket" else "interaction"
    return leave_last_out(data.interactions, unit=unit, max_test_users=max_test_users, seed=seed)


def run_dataset(name: str, root: Path, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    started = time.perf_counter()
    data = load_dataset(name, root)
    split = make_split(data, args.split, args.test_fraction, args.max_test_users, args.seed)
    valid = validation_split(split)
    console.print(f"[bold]{data.describe()}[/bold] (read in {time.perf_counter() - started:.1f}s)")
    console.print(f"  test: {split.describe()}\n  validation: {valid.describe()}")
    contenders = {n: c for n, c in peers(args.seed, args.threads).items() if n in args.models}
    if args.ours:
        contenders.update(ours(args.seed, args.threads))

    def tuned(model: str, result: TuneResult) -> None:
        console.print(
            f"  tuned {model}: {result.metric} {result.best_score:.4f} with {result.best_params} "
            f"({len(result.trials)} fits, {result.seconds:.1f}s)"
        )

    comparison = compare(
        contenders,
        split,
        validation=valid,
        k=args.k,
        ks=args.ks,
        budget=args.budget,
        time_budget_s=args.time_budget,
        seed=args.seed,
        on_tuned=tuned,
        item_categories=data.item_categories,
    )
    table = comparison.table
    console.print(rich_table(table, title=f"{name} — {args.split}"))
    key = f"ndcg@{args.k}"
    peer_names = [r.name for r in table.rows if r.name in PEERS]
    ratio = None
    if OUR_DEFAULT in contenders and peer_names:
        best_peer = table.best(key, among=peer_names)
        ratio = table[OUR_DEFAULT].metrics[key] / best_peer.metrics[key]
        console.print(f"  {OUR_DEFAULT} {key} / best peer ({best_peer.name}) = [bold]{ratio:.3f}[/bold]")
    out = RESULTS / args.stamp / name
    plot_metrics(table, out)
    (out / "table.md").write_text(markdown_table(table), encoding="utf-8")
    return {
        "dataset": name,
        "split": split.describe(),
        "validation": valid.describe(),
        "rows": table.as_dicts(),
        "tuning": {
            model: {
                "seconds": result.seconds,
                "trials": [
                    {"params": t.params, "score": t.score, "fit_s": t.fit_seconds} for t in result.trials
                ],
            }
            for model, result in comparison.tuning.items()
        },
        "ratio_default_to_best_peer": ratio,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=Path, default=None, help=f"folder of the datasets (or ${ENV_VAR})")
    p.add_argument("--dataset", action="append", choices=sorted(DATASETS), help="repeatable; default: all")
    p.add_argument("--split", choices=SPLITS, default="temporal")
    p.add_argument("--test-fraction", type=float, default=0.2, help="temporal split: share after the cut")
    p.add_argument("--max-test-users", type=int, default=None, help="sample the people tested (seeded)")
    p.add_argument("--k", type=int, default=10, help="the cut-off tuned for and compared")
    p.add_argument("--budget", type=int, default=6, help="fits per tuned model on the validation split")
    p.add_argument("--time-budget", type=float, default=300.0, help="seconds per tuned model")
    p.add_argument("--models", default=",".join(PEERS), help="peers to run (comma-separated)")
    p.add_argument("--no-ours", dest="ours", action="store_false", help="peers only")
    p.add_argument("--threads", type=int, default=1, help="threads for implicit")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.models = set(args.models.split(","))
    args.ks = sorted({5, args.k, 20})
    args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 180)
    chosen = args.datasets or os.environ.get(ENV_VAR) or DEFAULT_DATASETS
    root = datasets_root(chosen)
    results = []
    # implicit asks for one BLAS thread (and warns even when it has it); the machine is shared
    warnings.filterwarnings("ignore", message="OpenBLAS is configured")
    with threadpool_limits(1, "blas"):
        for name in args.dataset or sorted(DATASETS):
            results.append(run_dataset(name, root, args, console))
    out = RESULTS / args.stamp
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    console.print(f"results and plots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
