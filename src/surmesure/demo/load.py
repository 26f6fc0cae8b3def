"""Loading the demo shop into a store: items through the catalogue service, events
through the ingestion service (the same validation, dedup and pipeline as ``/v1/batch``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from surmesure.catalog.domain import ItemIn
from surmesure.catalog.service import upsert_items
from surmesure.clock import utc_ms
from surmesure.demo.generator import DemoShop, generate
from surmesure.deps import Services
from surmesure.errors import Unavailable

__all__ = ["EVENT_CHUNK", "ITEM_CHUNK", "LoadReport", "load_demo", "load_shop"]

EVENT_CHUNK = 1000
ITEM_CHUNK = 500
SOURCE = "demo"
#: how long to wait for the pipeline (profiles...) to catch up after the last event
PIPELINE_TIMEOUT_S = 600.0


@dataclass(slots=True)
class LoadReport:
    people: int
    items: int
    events_generated: int
    events_accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def load_demo(
    services: Services,
    *,
    people: int = 3000,
    items: int = 2000,
    seed: int = 42,
    now: datetime | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> LoadReport:
    """Generate the demo shop and load it; see :func:`load_shop`."""
    started = time.monotonic()
    shop = generate(people=people, items=items, seed=seed, now=now or services.clock.now())
    generated = time.monotonic() - started
    report = load_shop(services, shop, console=console, progress=progress)
    report.seconds = {"generate": generated, **report.seconds}
    return report


def load_shop(
    services: Services, shop: DemoShop, *, console: Console | None = None, progress: bool = True
) -> LoadReport:
    """Write ``shop``'s items and events, then wait until the pipeline has seen them all.

    Starts the writer and the pipeline worker if they are not running (starting twice
    is harmless).
    """
    report = LoadReport(people=len(shop.people), items=len(shop.items), events_generated=len(shop.events))
    writer = services.capabilities["writer"]
    pipeline = services.capabilities["pipeline"]
    ingestor = services.capabilities["ingestor"]
    writer.start()
    pipeline.start()
    with _progress(console, enabled=progress) as bars:
        clock = time.monotonic()
        task = bars.add_task("catalogue", total=len(shop.items))
        now_ms = utc_ms(datetime.now(UTC))
        for start in range(0, len(shop.items), ITEM_CHUNK):
            valid = [ItemIn.model_validate(item) for item in shop.items[start : start + ITEM_CHUNK]]
            upsert_items(services.engine, valid, now_ms)
            bars.advance(task, len(valid))
        report.seconds["items"] = time.monotonic() - clock

        clock = time.monotonic()
        task = bars.add_task("events", total=len(shop.events))
        for start in range(0, len(shop.events), EVENT_CHUNK):
            chunk = shop.events[start : start + EVENT_CHUNK]
            result = _ingest(ingestor, chunk)
            report.events_accepted += result.accepted
            report.duplicates += result.duplicates
            report.quarantined += result.quarantined
            report.errors.extend(f"{e.messageId}: {e.code}: {e.message}" for e in result.errors[:5])
            bars.advance(task, len(chunk))
        report.seconds["events"] = time.monotonic() - clock

        clock = time.monotonic()
        _wait_pipeline(pipeline, bars, bars.add_task("profiles", total=None))
        report.seconds["pipeline"] = time.monotonic() - clock
    return report


def _ingest(ingestor: Any, chunk: list[dict[str, Any]]) -> Any:
    """``ingest_sync`` with a short wait when the writer says it is overloaded."""
    for attempt in range(60):
        try:
            return ingestor.ingest_sync(chunk, source=SOURCE)
        except Unavailable as error:
            time.sleep(min(2.0, getattr(error, "retry_after", 1) * 0.25 * (attempt + 1)))
    return ingestor.ingest_sync(chunk, source=SOURCE)


def _wait_pipeline(pipeline: Any, bars: Progress, task: TaskID) -> None:
    deadline = time.monotonic() + PIPELINE_TIMEOUT_S
    backlog = pipeline.backlog()
    initial = max(backlog, 1)
    bars.update(task, total=initial)
    while backlog > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline still has {backlog} events to process")
        if not pipeline.alive:
            raise RuntimeError(f"the pipeline worker stopped with {backlog} events to process")
        bars.update(task, completed=max(0, initial - backlog))
        time.sleep(0.05)
        backlog = pipeline.backlog()
    bars.update(task, completed=initial)


class _Silent:
    """The subset of :class:`rich.progress.Progress` used here, doing nothing."""

    def add_task(self, _description: str, total: float | None = None) -> TaskID:
        return TaskID(0)

    def advance(self, _task: TaskID, _advance: float = 1) -> None:
        return None

    def update(self, _task: TaskID, **_fields: Any) -> None:
        return None


@contextmanager
def _progress(console: Console | None, *, enabled: bool) -> Iterator[Progress]:
    if not enabled:
        yield _Silent()  # type: ignore[misc]
        return
    bars = Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with bars:
        yield bars
