"""Privacy as the rest of the code sees it: :class:`Privacy` exports and erases one
person across every capability (``registry.HANDLERS``), keeps the tombstones, and purges
what is past its retention, on demand and on a schedule."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import sqlalchemy as sa

from surmesure import db
from surmesure.clock import Clock, utc_ms
from surmesure.config import Settings
from surmesure.errors import NotFound
from surmesure.events import rights as events_rights
from surmesure.ids import new_id
from surmesure.privacy import models
from surmesure.privacy import store as privacy_store
from surmesure.privacy.domain import Person, tombstone_hash
from surmesure.privacy.registry import HANDLERS
from surmesure.privacy.retention import purge
from surmesure.privacy.tombstones import Tombstones
from surmesure.profiles import rights as profiles_rights
from surmesure.profiles.service import ProfileService
from surmesure.recommendations import artifacts
from surmesure.recommendations.service import Recommendations

__all__ = ["EXPORT_FORMAT", "PersonNotFound", "Privacy"]

log = logging.getLogger(__name__)
EXPORT_FORMAT = "surmesure.export/1"
Retrain = Literal["now", "background", "mark"]


class PersonNotFound(NotFound):
    code = "privacy.person_not_found"


class Privacy:
    """Export, erase, purge; ``start``/``stop`` run the tombstones' refresh and the
    scheduled purge (and a retraining after erasures) in the server."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        clock: Clock,
        profiles: ProfileService,
        tombstones: Tombstones,
        recommendations: Recommendations | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.profiles = profiles
        self.tombstones = tombstones
        self.recommendations = recommendations
        self._key = settings.identity.hash_key.get_secret_value()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._training: Any = None
        self.last_purge: dict[str, int] | None = None

    # -- the person --------------------------------------------------------------------
    def person(self, conn: sa.Connection, identifier: str, id_type: str | None = None) -> Person:
        """Everything that names the person: their live profile, the profiles merged into
        it, their identifier keys; without a profile (not yet made), the keys the
        identifier may stand for."""
        pid = self.profiles.resolve_id(conn, identifier, id_type)
        candidates = set(self.profiles.candidate_keys(identifier, id_type))
        if pid is None:
            return Person(frozenset(), frozenset(candidates), frozenset({identifier.strip()}))
        pids = profiles_rights.profiles_of(conn, pid)
        keys = profiles_rights.keys_of(conn, pids)
        emails: set[str] = set()
        for row in profiles_rights.export_person(conn, pids, ())["profiles"]:
            email = (row.get("traits") or {}).get("email")
            if isinstance(email, str) and email.strip():
                emails.add(email.strip())
        return Person(frozenset(pids), frozenset(keys), frozenset(emails))

    # -- export ------------------------------------------------------------------------
    def export(self, identifier: str, id_type: str | None = None) -> dict[str, Any]:
        """One portable JSON of everything linked to the person, table by table."""
        with self.engine.connect() as conn:
            person = self.person(conn, identifier, id_type)
            tables: dict[str, list[dict[str, Any]]] = {}
            for handler in HANDLERS:
                tables.update(handler.export(conn, person))
        if not any(tables.values()):
            raise PersonNotFound(f"nothing is stored about {identifier!r}", identifier=identifier)
        live = self.profiles.get(identifier, id_type)
        return {
            "format": EXPORT_FORMAT,
            "exported_at": _iso(utc_ms(self.clock.now())),
            "request": {"identifier": identifier, "type": id_type},
            "profile": live,
            "tables": tables,
        }

    # -- erasure -----------------------------------------------------------------------
    def erase(
        self, identifier: str, id_type: str | None = None, *, retrain: Retrain = "background"
    ) -> dict[str, Any]:
        """The report of :meth:`erase_person`."""
        return self.erase_person(identifier, id_type, retrain=retrain)[0]

    def erase_person(
        self, identifier: str, id_type: str | None = None, *, retrain: Retrain = "background"
    ) -> tuple[dict[str, Any], Person]:
        """Remove the person from every table, keep tombstones of their identifiers, drop
        them from this process's caches, scrub the SQLite file, and deal with the model
        (``retrain``: ``now`` trains here, ``background`` in a process of its own,
        ``mark`` only leaves the marker for the server)."""
        now_ms = utc_ms(self.clock.now())
        if self.recommendations is not None:
            self.recommendations.shown.flush()  # answers still queued are erased with the rest
        with db.writing(self.engine) as conn:
            person = self.person(conn, identifier, id_type)
            first_ms = events_rights.first_received(conn, person.user_ids, person.anonymous_ids)
            rows = self._erase_rows(conn, person)
            if not any(rows.values()):
                raise PersonNotFound(f"nothing is stored about {identifier!r}", identifier=identifier)
            hashes = sorted(tombstone_hash(self._key, k) for k in person.keys)
            privacy_store.add_tombstones(conn, hashes, now_ms)
            erasure_id = new_id()
            report = {"rows": rows, "identifiers": len(hashes)}
            privacy_store.log_erasure(conn, erasure_id, now_ms, report)
        self.tombstones.add(hashes)
        # a training that began reading the store before now may hold the person: not served
        artifacts.note_erasure(artifacts.models_dir(self.settings.data_dir), now_ms)
        forgotten = self.recommendations.forget(person.cache_keys()) if self.recommendations else 0
        model = "unchanged"
        if models.needs_retraining(self.settings, first_ms):
            models.mark(self.settings, now_ms)
            model = self._retrain(retrain)
        scrubbed = db.scrub(self.engine) if self.settings.privacy.scrub_after_erase else False
        report = {
            "erasure_id": erasure_id,
            "erased_at": _iso(now_ms),
            "rows": rows,
            "tombstones": len(hashes),
            "cached_visitors_dropped": forgotten,
            "model": model,
            "store_scrubbed": scrubbed,
        }
        return report, person

    def sweep(self, person: Person) -> dict[str, int]:
        """Erase the person's keys again: events that were on their way when the
        tombstones were written (another process learns them within
        ``privacy.tombstone_refresh_ms``) are removed too."""
        with db.writing(self.engine) as conn:
            pids = set(person.profile_ids) | set(self.profiles_of_keys(conn, person.keys))
            again = Person(frozenset(pids), person.keys, person.extra_values)
            rows = self._erase_rows(conn, again)
        if any(rows.values()) and self.settings.privacy.scrub_after_erase:
            db.scrub(self.engine)
        return rows

    @staticmethod
    def profiles_of_keys(conn: sa.Connection, keys: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for k in keys:
            pid = profiles_rights.profile_of_key(conn, k)
            if pid is not None:
                found |= profiles_rights.profiles_of(conn, pid)
        return found

    def _erase_rows(self, conn: sa.Connection, person: Person) -> dict[str, int]:
        sqlite = db.is_sqlite(conn)
        if sqlite:  # deleted cells are overwritten with zeros, not left in free space
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        rows: dict[str, int] = {}
        try:
            for handler in HANDLERS:
                rows.update(handler.erase(conn, person))
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=OFF")
        return rows

    def _retrain(self, how: Retrain) -> str:
        if how == "now":
            return models.retrain(self.engine, self.settings)
        if how == "background":
            return "retraining" if self._start_training() else "retraining-queued"
        return "retraining-queued"

    def _start_training(self) -> bool:
        if self._training is not None and self._training.is_alive():
            return False  # the marker stays: the watcher starts another one after it
        process = multiprocessing.get_context("spawn").Process(
            target=models.retrain_in_process, args=(self.settings,), name="surmesure-retrain", daemon=True
        )
        process.start()
        self._training = process
        return True

    # -- retention ---------------------------------------------------------------------
    def purge(self) -> dict[str, int]:
        """Delete every row past its retention (``[retention]``); rows per table."""
        with db.writing(self.engine) as conn:
            counts = purge(conn, self.settings.retention, utc_ms(self.clock.now()))
        self.last_purge = counts
        return counts

    # -- in the server -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self.tombstones.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="surmesure-privacy", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.tombstones.stop()
        if self._training is not None:
            self._training.join(timeout)
            self._training = None

    def _watch(self) -> None:
        every_s = self.settings.retention.purge_every_hours * 3600
        next_purge = time.monotonic() + min(60.0, every_s)
        while not self._stop.wait(1.0):
            self._guard(self._retrain_if_marked)
            if every_s > 0 and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + every_s
                self._guard(self.purge)

    def _retrain_if_marked(self) -> None:
        if models.pending(self.settings) and (self._training is None or not self._training.is_alive()):
            self._start_training()

    @staticmethod
    def _guard(task: Callable[[], Any]) -> None:
        try:
            task()
        except Exception:
            log.exception("privacy: a background task failed")


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
