"""What happens after an event is accepted, as an explicit list, and the wiring of
each capability's services into :class:`~surmesure.deps.Services`.

The steps run in order on each committed group of events, inside the writer thread
(embedded mode) so the store has a single writer: profiles (identity, traits,
features); later segments and journeys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from surmesure.clock import utc_ms
from surmesure.deps import Services
from surmesure.events import store as event_store
from surmesure.events.domain import Limits
from surmesure.events.service import Ingestor
from surmesure.events.writer import GroupCommitWriter
from surmesure.profiles.service import ProfileService
from surmesure.profiles.unify import Unifier

__all__ = ["STEPS", "build_capabilities", "make_step"]

#: the pipeline, in order; ``tests/test_pipeline.py`` checks every capability that
#: reacts to events is listed here.
STEPS: tuple[str, ...] = ("profiles",)

_CHUNK_OUTBOX_ROWS = 50
_ATTEMPTS_BEFORE_DEAD_LETTER = 4
log = logging.getLogger(__name__)


class _Failures:
    """Consecutive failures of the pipeline step, and the last error."""

    def __init__(self) -> None:
        self.count = 0
        self.last_error = ""

    def record(self, error: BaseException) -> None:
        self.count += 1
        self.last_error = f"{type(error).__name__}: {error}"

    def reset(self) -> None:
        self.count = 0
        self.last_error = ""


def build_capabilities(services: Services) -> None:
    settings = services.settings
    limits = Limits(
        max_event_bytes=settings.ingest.max_event_bytes,
        max_future_skew_ms=settings.ingest.max_future_skew_seconds * 1000,
        known_types=frozenset(settings.ingest.known_event_types),
        ip_mode=settings.privacy.ip_mode,
        ip_key=settings.identity.hash_key.get_secret_value(),
    )

    unifier = Unifier(settings)
    step = make_step(services, unifier)

    writer = GroupCommitWriter(
        services.engine,
        max_pending_events=settings.ingest.max_pending_events,
        max_group_events=settings.ingest.group_commit_max_events,
        max_pipeline_backlog=settings.ingest.max_pending_events * 4,
        pipeline_step=step,
        now_ms=lambda: utc_ms(services.clock.now()),
    )
    services.capabilities["writer"] = writer
    services.capabilities["ingestor"] = Ingestor(writer, limits, services.clock)
    services.capabilities["profiles"] = ProfileService(services.engine, settings, services.clock, unifier)


def make_step(services: Services, unifier: Unifier) -> Callable[[sa.Connection], int]:
    """The pipeline step the writer runs between commits: one chunk of the outbox.

    A chunk that fails is retried one entry at a time; an entry that keeps failing is
    set aside in ``pipeline_dead_letters`` (its events stay stored) so one bad event
    cannot stop the pipeline.
    """
    failures = _Failures()

    def step(conn: sa.Connection) -> int:
        now_ms = utc_ms(services.clock.now())
        if failures.count >= _ATTEMPTS_BEFORE_DEAD_LETTER:
            # the same single entry failed again and again: set it aside, keep the rest flowing
            stuck = event_store.pending_outbox(conn, 1)
            if stuck:
                log.error(
                    "pipeline: outbox entry %s set aside after %d failures", stuck[0].id, failures.count
                )
                event_store.dead_letter(conn, stuck[0], failures.last_error, now_ms)
            failures.reset()
            return 1
        # after a failure, go one entry at a time to find the one that fails
        outbox_rows = event_store.pending_outbox(conn, 1 if failures.count else _CHUNK_OUTBOX_ROWS)
        if not outbox_rows:
            return 0
        rows: list[sa.Row[Any]] = []
        for entry in outbox_rows:
            rows.extend(event_store.read_commit(conn, entry.commit_id, entry.first_seq, entry.last_seq))
        try:
            unifier.process(conn, rows, now_ms)
        except Exception as error:
            failures.record(error)
            raise
        failures.reset()
        event_store.delete_outbox(conn, [entry.id for entry in outbox_rows])
        return len(rows)

    return step
