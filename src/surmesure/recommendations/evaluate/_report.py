"""A result table as Markdown, as a Rich table, and as PNG plots.

matplotlib is imported inside :func:`plot_metrics` (its first import builds a font
cache), and drawn through its Agg canvas: no display, no global backend switch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._harness import ResultTable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from rich.table import Table

__all__ = ["markdown_table", "plot_metrics", "rich_table"]

_BEYOND = ("coverage", "diversity", "novelty", "serendipity")


def _columns(table: ResultTable, metrics: Sequence[str] | None) -> list[str]:
    if metrics is not None:
        return list(metrics)
    names = table.metric_names()
    main = [n for n in names if n.endswith(f"@{table.k}") and not n.startswith("precision")]
    return main + [n for n in _BEYOND if n in names]


def _fmt(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _cells(table: ResultTable, metrics: Sequence[str] | None) -> tuple[list[str], list[list[str]]]:
    cols = _columns(table, metrics)
    header = ["model", *cols, "fit s", "rec ms/user"]
    body = [
        [
            r.name,
            *(_fmt(r.metrics.get(c, float("nan"))) for c in cols),
            f"{r.fit_seconds:.2f}",
            f"{r.recommend_ms_per_user:.3f}",
        ]
        for r in table.rows
    ]
    return header, body


def markdown_table(table: ResultTable, metrics: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table (main ``k`` and beyond-accuracy by default)."""
    header, body = _cells(table, metrics)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def rich_table(
    table: ResultTable, metrics: Sequence[str] | None = None, *, title: str | None = None
) -> Table:
    """The same table for a Rich console (``Console().print(rich_table(t))``)."""
    from rich.table import Table

    header, body = _cells(table, metrics)
    out = Table(title=title, caption=table.split)
    for i, name in enumerate(header):
        out.add_column(name, justify="left" if i == 0 else "right")
    for row in body:
        out.add_row(*row)
    return out


def plot_metrics(table: ResultTable, directory: Path, *, prefix: str = "", dpi: int = 110) -> list[Path]:
    """Write PNG plots of ``table`` into ``directory``; returns the files written.

    ``accuracy.png`` (recall, NDCG, MAP, hit rate at the main k, bars per model),
    ``beyond_accuracy.png`` (coverage, diversity, serendipity; novelty in bits),
    ``by_k.png`` (NDCG and recall against k, when there are several k), ``time.png``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    models = [r.name for r in table.rows]
    written: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        FigureCanvasAgg(fig)
        fig.tight_layout()
        path = directory / f"{prefix}{name}.png"
        fig.savefig(path, dpi=dpi)
        written.append(path)

    def bars(ax: Axes, metrics: list[str], ylabel: str) -> None:
        width = 0.8 / max(len(models), 1)
        for i, row in enumerate(table.rows):
            xs = [j + i * width for j in range(len(metrics))]
            ax.bar(xs, [row.metrics.get(m, float("nan")) for m in metrics], width, label=row.name)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(metrics))], metrics)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)

    k = table.k
    accuracy = [f"{m}@{k}" for m in ("recall", "ndcg", "map", "hit_rate")]
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    bars(ax, accuracy, "score")
    ax.set_title(f"Accuracy at k={k}")
    ax.legend(fontsize="small")
    save(fig, "accuracy")

    names = table.metric_names()
    if any(m in names for m in _BEYOND):
        fig = Figure(figsize=(10, 4.5))
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
        bars(left, [m for m in ("coverage", "diversity", "serendipity") if m in names], "share")
        left.set_title(f"Beyond accuracy (k={k})")
        left.legend(fontsize="small")
        bars(right, ["novelty"], "bits")
        right.set_title("Novelty")
        save(fig, "beyond_accuracy")

    if len(table.ks) > 1:
        fig = Figure(figsize=(10, 4.5))
        for ax, metric in zip(fig.subplots(1, 2), ("ndcg", "recall"), strict=True):
            for row in table.rows:
                ax.plot(
                    table.ks,
                    [row.metrics.get(f"{metric}@{x}", float("nan")) for x in table.ks],
                    marker="o",
                    label=row.name,
                )
            ax.set_xlabel("k")
            ax.set_title(f"{metric} at k")
            ax.grid(alpha=0.3)
        fig.axes[0].legend(fontsize="small")
        save(fig, "by_k")

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.bar(models, [r.fit_seconds for r in table.rows])
    left.set_title("training time (s)")
    right.bar(models, [r.recommend_ms_per_user for r in table.rows])
    right.set_title("recommend time (ms per person, batched)")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(axis="y", alpha=0.3)
    save(fig, "time")
    return written
