"""Training from the store: the catalogue and the interaction events → the default
model (``Hybrid``) and the "bought together" co-occurrence → a versioned artifact.

Runs in the ``surmesure train`` command, or in a process of its own started by the
server's schedule (:func:`train_in_process`): never in the server's process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from scipy.sparse import csr_matrix

from surmesure import db
from surmesure.clock import Clock, SystemClock, utc_ms
from surmesure.config import Settings
from surmesure.events import service as events_service

from . import artifacts
from .algorithms import Hybrid, ItemCooccurrence
from .algorithms.private import with_private_ease
from .catalogue import item_table, read_catalogue
from .errors import NothingToTrain, TrainingDiscarded
from .interactions import DEFAULT_WEIGHTS, InteractionMatrix, sessionize
from .signals import SIGNAL_EVENTS, signals_of

__all__ = ["STAGES", "Progress", "train", "train_in_process"]

log = logging.getLogger(__name__)
#: the stages ``on_progress`` reports, in order
STAGES: tuple[str, ...] = ("catalogue", "events", "matrix", "model", "together", "save")
_PAGE = 20_000


@dataclass(frozen=True, slots=True)
class Progress:
    stage: str  # one of STAGES
    step: int  # 1-based position of the stage
    detail: str = ""


def _read_events(engine: sa.Engine, max_events: int, report: Callable[[str], None]) -> dict[str, Any]:
    persons: list[str] = []
    items: list[str] = []
    kinds: list[str] = []
    stamps: list[int] = []
    quantities: list[float] = []
    after, read = 0, 0
    with engine.connect() as conn:
        while read < max_events:
            rows = events_service.events_named(
                conn, list(SIGNAL_EVENTS), after_seq=after, limit=min(_PAGE, max_events - read)
            )
            if not rows:
                break
            for row in rows:
                person = row.user_id or row.anonymous_id
                if not person:
                    continue
                for s in signals_of(row.event, orjson.loads(row.body), int(row.timestamp_ms)):
                    persons.append(person)
                    items.append(s.item_id)
                    kinds.append(s.kind)
                    stamps.append(s.timestamp_ms)
                    quantities.append(np.nan if s.quantity is None else s.quantity)
            read += len(rows)
            after = int(rows[-1].seq)
            report(f"{read:,} events")
    return {
        "person_ids": np.asarray(persons, dtype=str),
        "item_ids": np.asarray(items, dtype=str),
        "kinds": np.asarray(kinds, dtype=str),
        "timestamps_ms": np.asarray(stamps, dtype=np.int64),
        "quantities": np.asarray(quantities, dtype=float),
        "events": read,
    }


def train(
    engine: sa.Engine,
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    """Train on everything in the store, write a new version and point ``current`` at
    it; returns its manifest."""
    clock = clock or SystemClock()
    options = settings.recommendations
    started = time.monotonic()
    now = clock.now()

    def report(stage: str, detail: str = "") -> None:
        if on_progress is not None:
            on_progress(Progress(stage, STAGES.index(stage) + 1, detail))

    report("catalogue")
    catalogue = read_catalogue(engine)
    report("events", f"{len(catalogue):,} items")
    data = _read_events(engine, options.max_events, lambda d: report("events", d))
    report("matrix", f"{data['events']:,} events, {len(data['kinds']):,} interactions")
    weights = {**DEFAULT_WEIGHTS, **options.weights}
    columns = sorted(catalogue) if catalogue else None
    builder = InteractionMatrix(weights=weights, half_life_days=options.half_life_days)
    matrix = builder.fit(
        data["person_ids"], data["item_ids"], data["kinds"], data["timestamps_ms"], data["quantities"],
        now_ms=utc_ms(now), items=columns,
    )  # fmt: skip
    session_keys = sessionize(data["person_ids"], data["timestamps_ms"])
    sessions = InteractionMatrix(weights=weights, half_life_days=options.half_life_days).fit(
        session_keys.astype(str), data["item_ids"], data["kinds"], data["timestamps_ms"],
        now_ms=utc_ms(now), items=matrix.item_ids_,
    )  # fmt: skip
    item_ids = [str(i) for i in matrix.item_ids_]
    if not item_ids:
        raise NothingToTrain("nothing to train on: the catalogue is empty and no event names a product")
    table = item_table(item_ids, catalogue)
    report("model", f"{matrix.user_items_.shape[0]:,} people x {len(item_ids):,} items")
    model = Hybrid(max_items=options.max_items).fit(
        matrix.user_items_, item_table=table, sessions=sessions.user_items_,
        timestamps_ms=matrix.last_ms_, now_ms=matrix.now_ms_,
    )  # fmt: skip
    if options.privacy.mode == "dp":  # docs/audit.md: the collaborative part on a noisy Gram matrix
        p = options.privacy
        model = with_private_ease(
            model, matrix.user_items_, epsilon=p.epsilon, delta=p.delta, mechanism=p.mechanism,
            max_items_per_person=p.max_items_per_person, random_state=p.seed,
        )  # fmt: skip
    report("together")
    purchases = csr_matrix(matrix.purchases_, dtype=np.float32)
    together = ItemCooccurrence(similarity="cosine", k=50, shrink=2.0).fit(purchases)
    report("save")
    seconds = time.monotonic() - started
    manifest: dict[str, Any] = {
        "format": artifacts.MANIFEST_FORMAT,
        "created_at": now.astimezone(UTC).isoformat(),
        "created_ms": utc_ms(now),
        "training_seconds": round(seconds, 3),
        "counts": {
            "events": int(data["events"]),
            "interactions": len(data["kinds"]),
            "dropped": int(matrix.n_dropped_),
            "people": int(matrix.user_items_.shape[0]),
            "items": len(item_ids),
            "sessions": int(sessions.user_items_.shape[0]),
            "purchases": int(matrix.purchases_.sum()),
        },
        "params": {
            "model": {"class": "Hybrid", **model.get_params()},
            "together": {"class": "ItemCooccurrence", **together.get_params()},
            "matrix": {"weights": weights, "half_life_days": options.half_life_days},
            "privacy": options.privacy.model_dump(mode="json"),
        },
        "item_ids": item_ids,
        "replenishable": [item_ids[i] for i in np.flatnonzero(matrix.replenishable_)],
    }
    root = artifacts.models_dir(settings.data_dir)

    def write(folder: Path, version: str) -> None:
        manifest["version"] = version
        model.save(folder / "model")
        together.save(folder / "together")
        artifacts.write_manifest(folder, manifest)

    folder = artifacts.write_version(root, artifacts.new_version(now), write)
    if artifacts.erased_at(root) >= utc_ms(now):  # someone was erased after we began reading
        shutil.rmtree(folder, ignore_errors=True)
        raise TrainingDiscarded(
            "a person was erased while this training read the store: its version was deleted "
            "(the erasure's retraining makes the next one)",
            version=folder.name,
        )
    artifacts.point_current(root, folder.name)
    artifacts.prune(root, options.keep_versions)
    return manifest


def train_in_process(settings: Settings) -> None:
    """Entry point of the training process the server's schedule starts (spawned): low
    priority, an engine of its own."""
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(OSError):  # not allowed on some systems
        os.nice(10)
    engine = db.create_engine(
        settings.store_url, sqlite_synchronous=settings.store.sqlite_synchronous, pool_size=2
    )
    try:
        manifest = train(engine, settings)
        log.warning(
            "recommendations: trained version %s in %.1f s", manifest["version"], manifest["training_seconds"]
        )
    except TrainingDiscarded as discarded:  # the erasure's retraining follows: not a failure
        log.warning("recommendations: %s", discarded.message)
    finally:
        engine.dispose()
