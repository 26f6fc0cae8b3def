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
    train_times,
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


class WithTimes:
    """One of our models fitted the way ``surmesure train`` fits it: with the time of
    each cell (``timestamps_ms``, for trending popularity). The harness fits on a split's
    ``train`` matrix; the times are looked up by that matrix (the test split's or the
    validation split's), never computed from anything else."""

    def __init__(self, model: Any, times: dict[int, tuple[csr_matrix, csr_matrix]]) -> None:
        self.model = model
        self.times = times

    def fit(self, user_items: csr_matrix) -> WithTimes:
        matrix, stamps = self.times[id(user_items)]
        if matrix is not user_items:
            raise KeyError("no timestamps for this train matrix")
        self.model.fit(user_items, timestamps_ms=stamps)
        return self

    def recommend(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.recommend(*args, **kwargs)


def ours(seed: int, threads: int, splits: tuple[Split, ...] = ()) -> dict[str, Contender]:
    """Our models, from the recommender core if it is there (else none).

    ``splits`` (the test split and its validation split) give the default model (and
    ``trending``, its popularity part alone) the time of each interaction of their train
    part, as ``surmesure train`` does; the peers and EASE and co-occurrence get the
    matrix alone.
    """
    try:
        algorithms = importlib.import_module("surmesure.recommendations.algorithms")
    except ImportError:
        return {}
    times = {id(s.train): (s.train, train_times(s)) for s in splits}
    found: dict[str, Contender] = {}
    if hasattr(algorithms, "EASE"):
        # the 5,000 most popular items, as in the hybrid: a full 20k-item EASE takes 70-140 s a fit
        found["ease"] = (
            lambda **p: algorithms.EASE(max_items=5000, **p),
            {"lambda_": [50.0, 200.0, 500.0, 1000.0]},
        )
    if hasattr(algorithms, "ItemCooccurrence"):
        found["cooccurrence"] = (algorithms.ItemCooccurrence, {"k": [50, 100, 200], "shrink": [0.0, 10.0]})
    if hasattr(algorithms, "Popularity"):
        # the hybrid's trending part alone (not tuned): how much of its lead is "what
        # sells lately" rather than the person's own history
        found["trending"] = (lambda: WithTimes(algorithms.Popularity(half_life_days=30.0), times), {})
    if hasattr(algorithms, "Hybrid"):
        found[OUR_DEFAULT] = (
            lambda **p: WithTimes(algorithms.Hybrid(random_state=seed, **p), times),
            hybrid_grid(algorithms),
        )
    return found


def hybrid_grid(algorithms: Any) -> dict[str, list[Any]]:
    """Six configurations of our default model (the peers' budget): how much (trending)
    popularity weighs in the blend — a whisper, as much as EASE's typical best score, or
    most of it — and how much more it weighs for people with thin histories."""
    blends = [{**algorithms.DEFAULT_BLEND, "popularity": w} for w in (0.05, 0.5, 4.0)]
    return {"blend": blends, "thin_popularity": [0.0, 8.0]}


def _percentiles_ms(seconds: list[float]) -> dict[str, float]:
    values = sorted(seconds)

    def pick(q: float) -> float:
        return 1000.0 * values[min(len(values) - 1, int(q * len(values)))]

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "calls": float(len(values))}


def recommend_latency(
    models: dict[str, Recommender], split: Split, *, calls: int = 2000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """In-process latency of single-person ``recommend(userid, row, N=10)`` calls (not
    batched), for each fitted model, on people sampled from the test part; the person's
    row is sliced beforehand (what a server holds in memory), the call is what is timed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    people = rng.choice(split.users, size=calls, replace=True)
    rows = [split.train[int(u)] for u in people]
    out: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        for u, row in zip(people[:50], rows[:50], strict=True):  # warm-up
            model.recommend(int(u), row, N=10, filter_already_liked_items=split.filter_seen)
        times: list[float] = []
        for u, row in zip(people, rows, strict=True):
            t0 = time.perf_counter()
            model.recommend(int(u), row, N=10, filter_already_liked_items=split.filter_seen)
            times.append(time.perf_counter() - t0)
        out[name] = _percentiles_ms(times)
    return out


def http_throughput(console: Console, connections: int = 16) -> dict[str, Any] | None:
    """The HTTP half of issue #3 point 9, in the same run: ``GET /v1/recommendations``
    requests per second and p99 at ``connections`` keep-alive connections next to the
    same server's ``/healthz`` (targets: >= 0.5 of it, p99 <= 10 ms).

    Runs ``benchmarks/recommend_http.py`` (the serving benchmark: the demo shop in a
    fresh SQLite store, trained, ``python -m surmesure.cli serve`` on a free port,
    medians of 3 alternating rounds) in a subprocess and returns its figures
    (``healthz`` and ``recommendations``: ``rps``, ``p50_ms``, ``p99_ms``; ``ratio``), or
    None if it failed. Its model is trained on the demo shop, not on the datasets.
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="surmesure-recommend-http-") as tmp:
        out = Path(tmp) / "http.json"
        command = [sys.executable, str(HERE / "recommend_http.py"), "--connections", str(connections)]
        done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            console.print(f"  HTTP benchmark failed ({done.returncode}): {done.stderr[-2000:]}")
            return None
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


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
        contenders.update(ours(args.seed, args.threads, (split, valid)))

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
    latency: dict[str, dict[str, float]] = {}
    if args.latency and OUR_DEFAULT in contenders:
        latency = measure_latency(comparison, contenders, split, data, args, console)
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
        "latency": latency,
    }


def _tuned_factory(comparison: Any, contenders: dict[str, Contender], name: str) -> Any:
    if name in comparison.tuning:
        return comparison.tuning[name].best_factory()
    return contenders[name][0]


def measure_latency(
    comparison: Any,
    contenders: dict[str, Contender],
    split: Split,
    data: Dataset,
    args: argparse.Namespace,
    console: Console,
) -> dict[str, dict[str, float]]:
    """Our default model and implicit's ALS, each with its tuned parameters, refitted on
    the train part; single-person recommend latency for the whole catalogue."""
    names = [n for n in (OUR_DEFAULT, "implicit-als") if n in contenders]
    fitted = {n: _tuned_factory(comparison, contenders, n)().fit(split.train) for n in names}
    models = {n: (m.model if isinstance(m, Implicit | WithTimes) else m) for n, m in fitted.items()}
    latency = recommend_latency(models, split, seed=args.seed)
    n_items = split.train.shape[1]
    for n, figures in latency.items():
        console.print(
            f"  recommend latency, 1 person, {n_items:,} items, {n}: "
            f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms"
        )
    if OUR_DEFAULT in latency and "implicit-als" in latency:
        ratio = latency[OUR_DEFAULT]["p50_ms"] / latency["implicit-als"]["p50_ms"]
        console.print(f"  p50 {OUR_DEFAULT} / implicit-als = {ratio:.2f}")
    return latency


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
    p.add_argument("--no-latency", dest="latency", action="store_false", help="skip the latency measures")
    p.add_argument("--http", action="store_true", help="also run recommend_http.py (GET vs /healthz)")
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
    summary: dict[str, Any] = {"datasets": results, "http": None}
    if args.http:
        http = http_throughput(console)
        summary["http"] = http
        if http is not None:
            h, r = http["healthz"], http["recommendations"]
            console.print(
                f"HTTP at {http['connections']} connections (demo shop): /v1/recommendations "
                f"{r['rps']:.0f} req/s, p99 {r['p99_ms']:.2f} ms; /healthz {h['rps']:.0f} req/s, "
                f"p99 {h['p99_ms']:.2f} ms; ratio [bold]{http['ratio']:.2f}[/bold]"
            )
    out = RESULTS / args.stamp
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    console.print(f"results and plots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
