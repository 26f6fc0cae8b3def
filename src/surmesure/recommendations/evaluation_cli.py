"""``surmesure evaluate``: offline evaluation of the recommenders, as a table and plots.

On the store (default), an events file, or one of the public datasets; a global
temporal split or leave-last-out per person; fixed seeds. The models are fitted on the
train part and scored on the held-out part with the metrics of
:mod:`surmesure.recommendations.evaluate`; each model's training time is reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
import typer
from rich.console import Console

from surmesure import db
from surmesure.config import Settings, load_settings
from surmesure.errors import InvalidInput
from surmesure.events import service as events_service

from . import algorithms
from .datasets import Dataset, events_dataset, load_dataset, load_events
from .evaluate import (
    ModelResult,
    MostPopular,
    ResultTable,
    Split,
    leave_last_out,
    markdown_table,
    plot_metrics,
    rich_table,
    temporal_split,
    train_times,
)
from .evaluate import evaluate as evaluate_models
from .interactions import DEFAULT_WEIGHTS

__all__ = ["MODELS", "SPLITS", "evaluate_command", "make_split", "run_evaluation", "store_dataset"]

_PAGE = 20_000

#: the models ``--models`` may name, each built with the run's seed
MODELS: dict[str, Callable[[int], Any]] = {
    "popularity": lambda seed: MostPopular(),
    "cooccurrence": lambda seed: algorithms.ItemCooccurrence(),
    "ease": lambda seed: algorithms.EASE(),
    "als": lambda seed: algorithms.ALS(random_state=seed),
    "hybrid": lambda seed: algorithms.Hybrid(random_state=seed),
}
SPLITS = ("temporal", "leave-last-out", "leave-last-basket")
#: models fitted with the time of each interaction, as ``surmesure train`` fits them
TIMED = frozenset({"hybrid"})


class _WithTimes:
    """A model fitted with ``timestamps_ms`` (trending popularity), like training does."""

    def __init__(self, model: Any, times: Any) -> None:
        self.model = model
        self.times = times

    def fit(self, user_items: Any) -> _WithTimes:
        self.model.fit(user_items, timestamps_ms=self.times)
        return self

    def recommend(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.recommend(*args, **kwargs)


def store_dataset(engine: sa.Engine, *, max_events: int = 5_000_000) -> Dataset:
    """The product events of the store (views, adds to cart, purchases), oldest first."""

    def bodies() -> Iterator[dict[str, Any]]:
        after, read = 0, 0
        with engine.connect() as conn:
            while read < max_events:
                rows = events_service.events_named(
                    conn, list(DEFAULT_WEIGHTS), after_seq=after, limit=min(_PAGE, max_events - read)
                )
                if not rows:
                    return
                for row in rows:
                    yield orjson.loads(row.body)
                read += len(rows)
                after = int(rows[-1].seq)

    return events_dataset("store", bodies())


def make_split(data: Dataset, how: str, *, test_fraction: float, seed: int) -> Split:
    if how == "temporal":
        return temporal_split(data.interactions, test_fraction=test_fraction, seed=seed)
    if how in ("leave-last-out", "leave-last-basket"):
        if how == "leave-last-basket":
            return leave_last_out(data.interactions, unit="basket", seed=seed)
        return leave_last_out(data.interactions, unit="interaction", seed=seed)
    raise InvalidInput(f"unknown split {how!r}", known=list(SPLITS))


def run_evaluation(
    data: Dataset,
    *,
    split: str = "temporal",
    models: list[str],
    k: int = 10,
    test_fraction: float = 0.2,
    seed: int = 0,
    out: Path | None = None,
    console: Console | None = None,
) -> ResultTable:
    """Evaluate ``models`` on ``data``; print the table, write Markdown, JSON and PNG plots to
    ``out``."""
    console = console or Console()
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise InvalidInput(f"unknown models {unknown}", known=sorted(MODELS))
    if data.interactions.user.size == 0:
        raise InvalidInput(f"{data.name} holds no product events to evaluate on")
    chosen = make_split(data, split, test_fraction=test_fraction, seed=seed)
    console.print(f"[bold]{data.name}[/]: {chosen.describe()}")
    if len(chosen.users) == 0:
        raise InvalidInput(
            f"the {split} split of {data.name} leaves no one to test: it needs people with history "
            "on both sides (try another split or more data)",
            split=split,
        )
    rows: list[ModelResult] = []
    times = train_times(chosen) if TIMED.intersection(models) else None
    for name in models:
        model = MODELS[name](seed)
        if name in TIMED:
            model = _WithTimes(model, times)
        with console.status(f"fitting and scoring {name}..."):
            table = evaluate_models({name: model}, chosen, k=k, ks=sorted({5, k, 20}))
        rows.extend(table.rows)
        console.print(f"  {name}: fitted in {table.rows[0].fit_seconds:.1f} s")
    result = ResultTable(rows=rows, k=table.k, ks=table.ks, split=table.split)
    console.print(rich_table(result, title=f"{data.name} · {split} · k={k} · seed {seed}"))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.md").write_text(markdown_table(result) + "\n")
        (out / "evaluation.json").write_text(
            json.dumps(
                {
                    "data": data.name,
                    "split": chosen.describe(),
                    "k": k,
                    "seed": seed,
                    "models": [
                        {
                            "name": r.name,
                            "metrics": r.metrics,
                            "fit_seconds": r.fit_seconds,
                            "recommend_ms_per_user": r.recommend_ms_per_user,
                        }
                        for r in rows
                    ],
                },
                indent=2,
            )
        )
        plots = plot_metrics(result, out)
        console.print(f"Wrote {out / 'evaluation.md'}, evaluation.json and {len(plots)} plots to {out}.")
    return result


def evaluate_command(
    ctx: typer.Context,
    events: Annotated[
        Path | None, typer.Option(help="An events file (.jsonl, .json, .csv, maybe .gz); default: the store.")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="A public dataset by name (uci-online-retail, dunnhumby-...).")
    ] = None,
    datasets_dir: Annotated[
        Path | None, typer.Option(help="Where the public datasets are (else $SURMESURE_DATASETS).")
    ] = None,
    split: Annotated[str, typer.Option(help="temporal | leave-last-out | leave-last-basket.")] = "temporal",
    models: Annotated[str, typer.Option(help=f"Comma-separated, among {', '.join(MODELS)}.")] = (
        "popularity,ease,hybrid"
    ),
    k: Annotated[int, typer.Option(min=1, help="Cut-off of the metrics.")] = 10,
    test_fraction: Annotated[float, typer.Option(min=0.01, max=0.9, help="Temporal split: held out.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    out: Annotated[Path, typer.Option(help="Where the table and plots are written.")] = Path(
        "reports/evaluation"
    ),
) -> None:
    """Evaluate the recommenders offline: Recall, NDCG, MAP, hit rate, coverage, diversity,
    novelty and training time per model, as a table and PNG plots."""
    if events is not None and dataset is not None:
        raise typer.BadParameter("give --events or --dataset, not both")
    if events is not None:
        data = load_events(events)
    elif dataset is not None:
        data = load_dataset(dataset, datasets_dir)
    else:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
        engine = db.create_engine(settings.store_url, sqlite_synchronous=settings.store.sqlite_synchronous)
        try:
            db.upgrade(engine)
            data = store_dataset(engine, max_events=settings.recommendations.max_events)
        finally:
            engine.dispose()
    names = [m.strip() for m in models.split(",") if m.strip()]
    run_evaluation(data, split=split, models=names, k=k, test_fraction=test_fraction, seed=seed, out=out)
