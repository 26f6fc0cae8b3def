"""The accuracy cost of differential privacy in collaborative filtering (issue #5,
point 6): NDCG@10 of differentially private EASE against epsilon, next to the
non-private EASE and the popularity baseline, on the same split in one run.

    .venv/bin/python benchmarks/privacy_cf.py                          # both datasets
    .venv/bin/python benchmarks/privacy_cf.py --dataset uci-online-retail --epsilons 1,4,inf
    .venv/bin/python benchmarks/privacy_cf.py --mechanism laplace

For each dataset (read in place from --datasets, else $SURMESURE_DATASETS, else
../shared/datasets beside the repository): the temporal split of
``benchmarks/recommend.py`` (its ``make_split``), then every model is fitted on the
train part and scored on the test part by ``recommendations.evaluate.evaluate``:

* ``popularity`` — the floor: a private model below it is useless;
* ``ease`` — the non-private EASE (log weights, unbounded, lambda as below);
* ``ease-binary`` — the same on binary weights (what the private model counts);
* ``dp eps=inf`` — bounded contributions (``--per-person`` items a person), no noise:
  the cost of bounding alone;
* ``dp eps=X`` — ``PrivateEASE`` at each epsilon (noise on the Gram matrix, seeded).

Prints the table and the ratio of each private model to the non-private EASE; writes
results.json and privacy_cf.png (the curve) under benchmarks/results/privacy_cf/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from surmesure.recommendations.algorithms import EASE
from surmesure.recommendations.algorithms.private import PrivateEASE, noise_scale
from surmesure.recommendations.datasets import DATASETS, ENV_VAR, datasets_root, load_dataset
from surmesure.recommendations.evaluate import MostPopular, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recommend import make_split  # the split of the recommendation benchmark

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "privacy_cf"
DEFAULT_DATASETS = HERE.parent.parent / "shared" / "datasets"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=Path, default=None, help=f"folder of the datasets (or ${ENV_VAR})")
    p.add_argument("--dataset", action="append", choices=sorted(DATASETS), help="repeatable; default: both")
    p.add_argument("--epsilons", default="0.5,1,2,4,8,16,32,inf", help="comma-separated; inf: no noise")
    p.add_argument("--mechanism", choices=("gaussian", "laplace"), default="gaussian")
    p.add_argument("--delta", type=float, default=1e-6)
    p.add_argument("--per-person", type=int, default=32, help="contributions kept per person (c)")
    p.add_argument("--lambda", dest="lambda_", type=float, default=200.0, help="EASE's L2 regularization")
    p.add_argument("--max-items", type=int, default=1000, help="items modelled (the most popular)")
    p.add_argument("--max-test-users", type=int, default=3000, help="people tested (seeded sample)")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also copy the PNG here")
    args = p.parse_args(argv)
    args.epsilons = [float(e) for e in args.epsilons.split(",")]
    args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args


def models(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "popularity": MostPopular,
        "ease": lambda: EASE(lambda_=args.lambda_, max_items=args.max_items),
        "ease-binary": lambda: EASE(lambda_=args.lambda_, weighting="binary", max_items=args.max_items),
    }
    for eps in sorted(args.epsilons, reverse=True):
        out[f"dp eps={eps:g}"] = (
            lambda eps=eps: PrivateEASE(
                epsilon=eps, delta=args.delta, mechanism=args.mechanism, max_items_per_person=args.per_person,
                lambda_=args.lambda_, max_items=args.max_items, random_state=args.seed,
            )
        )  # fmt: skip
    return out


def run_dataset(name: str, root: Path, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    started = time.perf_counter()
    data = load_dataset(name, root)
    split = make_split(data, "temporal", args.test_fraction, args.max_test_users, args.seed)
    console.print(f"[bold]{data.describe()}[/bold] (read in {time.perf_counter() - started:.1f}s)")
    console.print(f"  test: {split.describe()}")
    rows = []
    reference = None
    for label, factory in models(args).items():
        t0 = time.perf_counter()
        table = evaluate({label: factory}, split, k=10, ks=[10], beyond_accuracy=False)
        ndcg = table[label].metrics["ndcg@10"]
        recall = table[label].metrics["recall@10"]
        seconds = time.perf_counter() - t0
        if label == "ease":
            reference = ndcg
        eps = float(label.split("=")[1]) if label.startswith("dp") else None
        scale = noise_scale(eps, args.delta, args.mechanism, args.per_person) if eps is not None else None
        rows.append({"model": label, "epsilon": eps, "noise_scale": scale, "ndcg@10": ndcg,
                     "recall@10": recall, "seconds": seconds})  # fmt: skip
        console.print(f"  {label:>14}: NDCG@10 {ndcg:.4f}  recall@10 {recall:.4f}  ({seconds:.1f}s)")
    for row in rows:
        row["ratio_to_ease"] = row["ndcg@10"] / reference if reference else None
    return {"dataset": name, "split": split.describe(), "rows": rows}


def print_table(results: list[dict[str, Any]], console: Console, args: argparse.Namespace) -> None:
    title = f"NDCG@10 against epsilon ({args.mechanism}, c = {args.per_person}, delta = {args.delta:g})"
    table = Table(title=title)
    table.add_column("model")
    table.add_column("noise scale", justify="right")
    for r in results:
        table.add_column(f"{r['dataset']} NDCG@10", justify="right")
        table.add_column("/ ease", justify="right")
    for i, row in enumerate(results[0]["rows"]):
        scale = row["noise_scale"]
        cells = [row["model"], "-" if scale is None else f"{scale:.1f}"]
        for r in results:
            other = r["rows"][i]
            cells += [f"{other['ndcg@10']:.4f}", f"{other['ratio_to_ease']:.2f}"]
        table.add_row(*cells)
    console.print(table)


def plot(results: list[dict[str, Any]], path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        by = {row["model"]: row for row in r["rows"]}
        dp = [row for row in r["rows"] if row["epsilon"] is not None and math.isfinite(row["epsilon"])]
        dp.sort(key=lambda row: row["epsilon"])
        ax.plot([row["epsilon"] for row in dp], [row["ndcg@10"] for row in dp], "o-", label="private EASE")
        styles = {"ease": ("k", "-"), "ease-binary": ("grey", "--"), "dp eps=inf": ("tab:blue", ":"),
                  "popularity": ("tab:red", "-.")}  # fmt: skip
        for name, (colour, style) in styles.items():
            if name in by:
                label = {"dp eps=inf": "bounded, no noise", "ease": "EASE (non-private)"}.get(name, name)
                ax.axhline(by[name]["ndcg@10"], color=colour, linestyle=style, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("epsilon (privacy budget per person; smaller is more private)")
        ax.set_ylabel("NDCG@10")
        ax.set_title(r["dataset"])
        ax.legend(fontsize="small")
    fig.suptitle(f"Differentially private EASE ({args.mechanism}, c = {args.per_person})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    root = datasets_root(args.datasets or os.environ.get(ENV_VAR) or DEFAULT_DATASETS)
    warnings.filterwarnings("ignore", message="OpenBLAS is configured")
    with threadpool_limits(1, "blas"):
        results = [run_dataset(name, root, args, console) for name in args.dataset or sorted(DATASETS)]
    print_table(results, console, args)
    out = RESULTS / args.stamp
    out.mkdir(parents=True, exist_ok=True)
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "datasets": results}
    (out / "results.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plot(results, out / "privacy_cf.png", args)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes((out / "privacy_cf.png").read_bytes())
    console.print(f"results and the curve in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
