"""What happens after an event is accepted, as an explicit list; the worker that runs
it; and the wiring of each capability's services into :class:`~surmesure.deps.Services`.

The steps run in order on each group commit's events (the outbox), in the pipeline
worker: profiles (identity, traits, features); later segments and journeys. The worker
is a process of its own beside the server by default (``pipeline.mode``), so that
ingestion and profiles each have a core; in ``thread`` mode it is a thread of the
server. Either way one worker per store works at a time (a store-wide lock), which is
what lets it keep the hot part of the identity graph and of the profiles in memory.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from surmesure import db
from surmesure.clock import Clock, SystemClock, utc_ms
from surmesure.config import Settings
from surmesure.consent.pseudonym import Pseudonymizer
from surmesure.decisions.service import Decisions
from surmesure.deps import Services
from surmesure.events import store as event_store
from surmesure.events.domain import Limits
from surmesure.events.service import Ingestor
from surmesure.events.writer import GroupCommitWriter, outbox_events
from surmesure.preferences.service import Preferences
from surmesure.privacy.service import Privacy
from surmesure.privacy.tombstones import Tombstones
from surmesure.profiles import store as profile_store
from surmesure.profiles.service import ProfileService
from surmesure.profiles.unify import Step, Unifier
from surmesure.recommendations.service import Recommendations
from surmesure.segments.service import Segments

__all__ = ["STEPS", "Pipeline", "build_capabilities", "make_step", "run_worker", "tune_gc"]

#: the pipeline, in order; ``tests/test_pipeline.py`` checks every capability that
#: reacts to events is listed here.
STEPS: tuple[str, ...] = ("profiles", "segments")

_ATTEMPTS_BEFORE_DEAD_LETTER = 4
_IDLE_AFTER_S = 1.0  # no events for this long: poll ten times less often
_STILL_S = 0.05  # a backlog that did not grow for this long is not waited on
_LOCK_NAME = "pipeline"
log = logging.getLogger(__name__)
_PARENT_CHECK_S = 0.2  # how often the worker process checks that its server lives


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
        pseudonymizer=Pseudonymizer.from_settings(settings),
    )

    writer = GroupCommitWriter(
        services.engine,
        max_pending_events=settings.ingest.max_pending_events,
        max_group_events=settings.ingest.group_commit_max_events,
        max_pipeline_backlog=settings.ingest.max_pending_events * 4,
        now_ms=lambda: utc_ms(services.clock.now()),
        group_wait_s=settings.ingest.group_commit_wait_ms / 1000,
    )
    services.capabilities["writer"] = writer
    tombstones = Tombstones(services.engine, settings)  # erased people's events are refused
    services.capabilities["ingestor"] = Ingestor(writer, limits, services.clock, screen=tombstones.screen)
    services.capabilities["profiles"] = ProfileService(
        services.engine, settings, services.clock, Unifier(settings)
    )
    services.capabilities["pipeline"] = Pipeline(services)
    services.capabilities["segments"] = Segments(
        services.engine, settings, services.clock, services.capabilities["profiles"], ProfileRows()
    )
    services.capabilities["recommendations"] = Recommendations(
        services.engine, settings, services.clock, services.capabilities["profiles"]
    )
    services.capabilities["decisions"] = Decisions(
        services.engine, settings, services.clock, services.capabilities["profiles"],
        services.capabilities["segments"], services.capabilities["recommendations"], ProfileRows(),
    )  # fmt: skip
    services.capabilities["preferences"] = Preferences(
        services.engine, settings, services.clock, services.capabilities["profiles"],
        services.capabilities["ingestor"],
    )  # fmt: skip
    services.capabilities["privacy"] = Privacy(
        services.engine, settings, services.clock, services.capabilities["profiles"], tombstones,
        services.capabilities["recommendations"],
    )  # fmt: skip


class ProfileRows:
    """Profiles as segments read them (``segments.service.ProfileSource``): the
    composition reads the profiles' tables so that segments need not."""

    def pids_of(self, conn: sa.Connection, keys: Iterable[str]) -> set[str]:
        return set(profile_store.profile_of_keys(conn, keys).values())

    def load(self, conn: sa.Connection, pids: Iterable[str]) -> dict[str, Any]:
        rows = profile_store.load_profiles(conn, pids)
        return {pid: row for pid, row in rows.items() if row["merged_into"] is None}

    def keys(self, conn: sa.Connection, pids: Iterable[str]) -> dict[str, list[str]]:
        return profile_store.keys_of_profiles(conn, pids)

    def absorbed(self, conn: sa.Connection, pids: Iterable[str]) -> list[str]:
        table, wanted = profile_store.profiles, sorted(set(pids))
        out: list[str] = []
        for start in range(0, len(wanted), 500):
            query = sa.select(table.c.profile_id).where(table.c.merged_into.in_(wanted[start : start + 500]))
            out.extend(conn.execute(query).scalars())
        return out

    def live_ids(self, conn: sa.Connection, after: str, limit: int) -> list[str]:
        table = profile_store.profiles
        query = sa.select(table.c.profile_id).where(table.c.merged_into.is_(None), table.c.profile_id > after)
        return list(conn.execute(query.order_by(table.c.profile_id).limit(limit)).scalars())


class Pipeline:
    """Starts, watches and stops the pipeline worker, and tells how far behind it is.

    A worker that dies (a crash, the store unreachable at start) is started again by a
    watchdog thread, after 1 s, then 2, 4... up to 30 s between attempts; committed events
    wait in the outbox meanwhile, so nothing is lost.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._thread: threading.Thread | None = None
        self._process: Any = None
        self._stop: Any = None
        self._watchdog: threading.Thread | None = None
        self._stopping = threading.Event()
        self.restarts = 0

    def start(self) -> None:
        """Start the worker and its watchdog (a second call is harmless)."""
        if self._watchdog is not None:
            return
        self._stopping.clear()
        self._spawn()
        self._watchdog = threading.Thread(target=self._watch, name="surmesure-pipeline-watch", daemon=True)
        self._watchdog.start()

    def _spawn(self) -> None:
        settings = self.services.settings
        if settings.pipeline.mode == "thread":
            stop = threading.Event()
            self._stop = stop
            self._thread = threading.Thread(
                target=run_worker,
                args=(self.services.engine, settings, self.services.clock, stop.is_set),
                name="surmesure-pipeline",
                daemon=True,
            )
            self._thread.start()
        else:
            context = multiprocessing.get_context("spawn")
            self._stop = context.Event()
            self._process = context.Process(
                target=_process_main,
                args=(settings, self._stop, os.getpid()),
                name="surmesure-pipeline",
                daemon=True,
            )
            self._process.start()

    def _watch(self) -> None:
        delay = 1.0
        while not self._stopping.wait(delay if not self.alive else 1.0):
            if self.alive:
                delay = 1.0
                continue
            log.error("the pipeline worker stopped; starting it again (restart %d)", self.restarts + 1)
            self.restarts += 1
            self._spawn()
            delay = min(delay * 2, 30.0)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout)
            self._watchdog = None
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout)
            self._process = None

    def backlog(self) -> int:
        """Events committed and not yet through every step (exact, from the store)."""
        with self.services.engine.connect() as conn:
            return outbox_events(conn)

    @property
    def alive(self) -> bool:
        if self._thread is not None:
            return self._thread.is_alive()
        return self._process is not None and bool(self._process.is_alive())

    @property
    def pid(self) -> int | None:
        """The worker process's id (process mode)."""
        return None if self._process is None else int(self._process.pid)


def _process_main(settings: Settings, stop: Any, parent_pid: int) -> None:
    """The worker process: its own engine, stopping with the server that started it."""
    _die_with(parent_pid)
    logging.basicConfig(level=logging.WARNING)
    tune_gc()
    engine = db.create_engine(
        settings.store_url, sqlite_synchronous=settings.store.sqlite_synchronous, pool_size=2
    )
    try:
        run_worker(engine, settings, SystemClock(), lambda: stop.is_set() or os.getppid() != parent_pid)
    finally:
        engine.dispose()


def _die_with(parent_pid: int) -> None:
    """Exit the moment the server that started the worker is gone, even in the middle of
    a long step: a step's writes are one transaction (nothing half-applied) and the
    store's worker lock goes with the process, so the next server's worker takes over
    at once. (Linux's ``PR_SET_PDEATHSIG`` would do it, but is not honoured in every
    sandbox: a watcher thread is.)"""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="surmesure-worker-parent", daemon=True).start()


def tune_gc() -> None:
    """Fewer full collections in a long-running process that keeps much in memory.

    The worker keeps thousands of profiles (dicts) cached and every step allocates
    thousands of parsed events: with the default thresholds the cyclic collector ran
    its full passes over all of it so often that it took ~30% of the worker's time.
    What exists at start-up (modules, settings) is frozen out of collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run_worker(engine: sa.Engine, settings: Settings, clock: Clock, should_stop: Callable[[], bool]) -> None:
    """Run the steps over the outbox until ``should_stop()``; one worker per store at a time."""
    unifier = Unifier(settings)
    options = settings.pipeline
    step = make_step(
        clock,
        unifier,
        options.max_commits_per_step,
        options.max_events_per_step,
        min_events=options.min_events_per_step,
        max_delay_s=options.max_delay_ms / 1000,
        segments=Segments(
            engine, settings, clock, ProfileService(engine, settings, clock, unifier), ProfileRows()
        ),
    )
    poll = settings.pipeline.poll_interval_ms / 1000
    with db.named_lock(engine, _LOCK_NAME, should_stop=should_stop) as leader:
        if not leader:
            return
        last_work = time.monotonic()
        while not should_stop():
            try:
                done = step(engine)
            except Exception:
                log.exception("pipeline step failed; it will be retried")
                time.sleep(0.2)
                continue
            now = time.monotonic()
            if done:
                last_work = now
            else:
                time.sleep(poll if now - last_work < _IDLE_AFTER_S else poll * 10)


def make_step(
    clock: Clock,
    unifier: Unifier,
    max_commits: int = 500,
    max_events: int = 20_000,
    *,
    min_events: int = 1,
    max_delay_s: float = 0.0,
    segments: Segments | None = None,
) -> Callable[[sa.Engine], int]:
    """One pipeline step over the oldest outbox entries; returns how many events it took.

    The step reads and computes without the write lock (the worker is the only writer
    of profiles, and the generation tells it if anything else wrote meanwhile), then
    applies its writes and deletes the entries in one short write transaction: on
    SQLite the ingestion writer waits only for that.

    A chunk that fails is retried one entry at a time; an entry that keeps failing is
    set aside in ``pipeline_dead_letters`` (its events stay stored) so one bad event
    cannot stop the pipeline.

    While fewer than ``min_events`` wait and more keep coming, the step leaves them for
    up to ``max_delay_s`` (returning 0, as if there were none), so that under a steady
    flow the worker takes the write lock a few times a second rather than once per group
    commit; a backlog that stopped growing goes through at once.
    """
    failures = _Failures()
    small_since: list[float] = []  # when a too-small backlog was first seen
    seen = [0, 0.0]  # the backlog at the previous look, and when it last grew

    def step(engine: sa.Engine) -> int:
        now_ms = utc_ms(clock.now())
        if failures.count >= _ATTEMPTS_BEFORE_DEAD_LETTER:
            # the same single entry failed again and again: set it aside, keep the rest flowing
            with db.writing(engine) as conn:
                stuck = event_store.pending_outbox(conn, 1)
                if stuck:
                    log.error(
                        "pipeline: outbox entry %s set aside after %d failures", stuck[0].id, failures.count
                    )
                    event_store.dead_letter(conn, stuck[0], failures.last_error, now_ms)
            failures.reset()
            return 1
        plan = Step()
        try:
            with engine.connect() as read:
                if not failures.count:
                    # one aggregate, not the entries: an idle or waiting worker asks often
                    waiting = outbox_events(read)
                    # wait for more only while more is coming: a backlog that stopped
                    # growing (a burst ended, a lone event) goes through at once
                    now = time.monotonic()
                    if waiting > seen[0]:
                        seen[1] = now
                    seen[0] = waiting
                    growing = now - seen[1] < _STILL_S
                    if waiting and waiting < min_events and growing:
                        if not small_since:
                            small_since.append(time.monotonic())
                        if time.monotonic() - small_since[0] < max_delay_s:
                            return 0
                    small_since.clear()
                    seen[0] = 0
                    if not waiting:
                        return 0
                # after a failure, go one entry at a time to find the one that fails
                entries = event_store.pending_outbox(read, 1 if failures.count else max_commits)
                if not entries:
                    return 0
                entries = _first_events(entries, max_events)
                rows = event_store.read_commits(read, entries)
                unifier.process(read, rows, now_ms, plan)
            with db.writing(engine) as conn:
                if not unifier.still_current(conn):
                    # profiles changed behind the worker's back (an undone merge): start afresh
                    unifier.cache.clear()
                    return 1
                plan.apply(conn)
                if segments is not None:  # reads the profiles just written, same transaction
                    segments.process(conn, rows, now_ms)
                event_store.delete_outbox(conn, [entry.id for entry in entries])
        except Exception as error:
            unifier.cache.clear()
            failures.record(error)
            raise
        failures.reset()
        return max(len(rows), 1)

    return step


def _first_events(entries: list[Any], max_events: int) -> list[Any]:
    """The first entries holding at most ``max_events`` events (at least one entry)."""
    total = 0
    for i, entry in enumerate(entries):
        total += entry.last_seq - entry.first_seq + 1
        if total > max_events and i > 0:
            return entries[:i]
    return entries
