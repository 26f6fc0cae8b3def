"""The pipeline worker's cache and an erasure: a step computed from the person's events
before the erasure is discarded at its commit (the generation moved), the cache starts
afresh, and the person is not written back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from surmesure import pipeline
from surmesure.app import build_services
from surmesure.profiles.unify import Step, Unifier

from builders import identify, track
from conftest import make_settings


class ErasingUnifier(Unifier):
    """Runs ``erase`` once, after computing a step and before the step is written: an
    erasure that lands while the worker works."""

    erase: Callable[[], Any] | None = None

    def process(self, conn: sa.Connection, rows: Sequence[Any], now_ms: int, step: Step | None = None) -> int:
        done = super().process(conn, rows, now_ms, step)
        if self.erase is not None:
            erase, self.erase = self.erase, None
            erase()
        return done


def _drain(step: Callable[[sa.Engine], int], engine: sa.Engine) -> None:
    for _ in range(20):
        if step(engine) == 0:
            return
    raise AssertionError("the pipeline did not drain")


def test_a_step_computed_before_an_erasure_is_discarded(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(tmp_path, store_url, privacy={"scrub_after_erase": False})
    services = build_services(settings)
    ingestor, writer = services.capabilities["ingestor"], services.capabilities["writer"]
    privacy = services.capabilities["privacy"]
    writer.start()
    try:
        assert ingestor.ingest_sync([identify("ann", anonymousId="ann-a")], source="test").accepted == 1
        unifier = ErasingUnifier(settings)
        step = pipeline.make_step(services.clock, unifier)
        _drain(step, services.engine)
        assert "user_id:ann" in unifier.cache.pid_of  # the worker keeps her in memory

        assert ingestor.ingest_sync([track("Viewed", userId="ann")], source="test").accepted == 1
        erased: list[dict[str, Any]] = []
        unifier.erase = lambda: erased.append(privacy.erase("ann", "user_id", retrain="mark"))
        _drain(step, services.engine)
    finally:
        writer.stop()
    assert erased
    assert erased[0]["rows"]["events"] == 2
    assert "user_id:ann" not in unifier.cache.pid_of
    assert not unifier.cache.profiles
    with services.engine.connect() as conn:
        for table in ("profiles", "identifiers", "events", "event_outbox"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
    services.engine.dispose()
