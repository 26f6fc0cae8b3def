"""Recommendations as the rest of the code sees them: :class:`Recommendations` serves
the current model version, swaps in new ones without a failed request, and retrains
on a schedule in a process of its own.

The swap: a watcher thread checks every ``reload_check_seconds`` the modification
time of the ``current`` pointer and the catalogue's fingerprint; on a change it loads
the version (or rebuilds the item table) completely, then replaces one reference.
A request reads that reference once, so it is answered by one version from start to
end. Requests read the visitor's latest events from the store to build their row:
a view or an add to cart changes the next answer without retraining.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from surmesure.catalog.domain import ItemPublic
from surmesure.catalog.service import catalogue_stamp
from surmesure.clock import Clock, utc_ms
from surmesure.config import Settings
from surmesure.profiles.service import ProfileService, Stamp

from . import artifacts
from .catalogue import display, item_table, read_catalogue
from .errors import NoModel
from .serving import Prepared, Query, Served, answer, prepare
from .shown import ShownLog
from .signals import Visitor, visitor_from_bodies
from .training import train_in_process

__all__ = ["ID_TYPES", "NO_CONSENT", "Recommendations", "Who"]

log = logging.getLogger(__name__)
#: the kinds of identifier a request may name a person by (None: any of them)
ID_TYPES = ("profile_id", "user_id", "anonymous_id", "email")
#: the ``reason`` of an answer that could not use the person's history
NO_CONSENT = "no consent for personalization"
#: catalogues up to this size get every item's neighbour list at load (2,000 items: ~0.3 s)
_WARM_NEIGHBOURS = 5000
#: visitors kept parsed between requests (a few KiB each, ~40 KiB at 200 events)
_VISITORS = 10_000


@dataclass(slots=True)
class _Kept:
    """A visitor kept between requests: parsed from events with this stamp, and their
    :func:`~.serving.prepare` for one model version (None until asked)."""

    stamp: Stamp
    visitor: Visitor
    # one attribute, replaced whole; the model weakly (a kept visitor must not keep an
    # old version's arrays alive after a swap)
    prepared: tuple[weakref.ref[Served], Prepared] | None = None


@dataclass(frozen=True, slots=True)
class _Consent:
    """Who a request named, as its answer is logged, and their profile's consent."""

    key: str  # their profile id, else ``type:value`` of the identifier
    profile_id: str | None
    allowed: bool | None  # the profile's effective personalization consent (None: no profile)
    choice: Mapping[str, Any] | None  # the profile's recorded personalization choice


@dataclass(frozen=True, slots=True)
class Who:
    value: str
    id_type: str | None = None  # one of ID_TYPES, or None: any identifier


class Recommendations:
    """Serve, swap and retrain; ``start``/``stop`` are called by the server."""

    def __init__(self, engine: sa.Engine, settings: Settings, clock: Clock, profiles: ProfileService) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.profiles = profiles
        self.root = artifacts.models_dir(settings.data_dir)
        self._served: Served | None = None
        self._pointer: int | None = None  # mtime_ns of ``current`` when last loaded
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._training: Any = None
        self._next_training = 0.0
        self.trainings_started = 0
        # person key → their visitor, kept while their events keep the stamp
        self._visitors: OrderedDict[str, _Kept] = OrderedDict()
        self._visitors_lock = threading.Lock()
        #: the answers shown to named people, for "why am I seeing this"
        self.shown = ShownLog(engine)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Load the current version (if any), then watch for new ones in a thread."""
        if self._thread is not None:
            return
        try:
            self.reload()
        except Exception:
            log.exception("recommendations: the current model could not be loaded")
        every = self.settings.recommendations.retrain_every_minutes
        # no model yet: the first scheduled training starts at once
        self._next_training = time.monotonic() + (every * 60 if self._served is not None else 0)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="surmesure-recommendations", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._training is not None:
            self._training.terminate()  # a version is renamed into place whole, or not at all
            self._training.join(timeout)
            self._training = None
        self.shown.stop()

    def _watch(self) -> None:
        interval = self.settings.recommendations.reload_check_seconds
        while not self._stop.wait(interval):
            try:
                self.reload()
            except Exception:
                log.exception("recommendations: reload failed; serving the previous version")
            try:
                self._schedule()
            except Exception:
                log.exception("recommendations: could not start a scheduled training")

    def _schedule(self) -> None:
        every = self.settings.recommendations.retrain_every_minutes
        if self._training is not None:
            if self._training.is_alive():
                return
            self._training.join()
            if self._training.exitcode != 0:
                log.error(
                    "recommendations: scheduled training failed (exit code %s)", self._training.exitcode
                )
            self._training = None
            self.reload()
        if every <= 0 or time.monotonic() < self._next_training:
            return
        self._next_training = time.monotonic() + every * 60
        process = multiprocessing.get_context("spawn").Process(
            target=train_in_process, args=(self.settings,), name="surmesure-train", daemon=True
        )
        process.start()
        self._training = process
        self.trainings_started += 1

    @property
    def training(self) -> bool:
        return self._training is not None and bool(self._training.is_alive())

    # -- loading -------------------------------------------------------------------------

    @property
    def version(self) -> str | None:
        served = self._served
        return None if served is None else served.artifact.version

    def reload(self) -> bool:
        """Swap in the version ``current`` names, or a new view of the catalogue, when
        either changed; True when something was swapped."""
        with self._lock:
            try:
                pointer: int | None = (self.root / "current").stat().st_mtime_ns
            except OSError:
                pointer = None
            stamp = catalogue_stamp(self.engine)
            served = self._served
            if pointer is not None and pointer != self._pointer:
                version = artifacts.current_version(self.root)
                if version is not None and (served is None or version != served.artifact.version):
                    artifact = artifacts.load_artifact(self.root, version)
                    self._served = self._serve(artifact, read_catalogue(self.engine))
                    self._stamp, self._pointer = stamp, pointer
                    log.info("recommendations: serving version %s", version)
                    return True
                self._pointer = pointer
            if served is not None and stamp != self._stamp:
                self._served = self._serve(served.artifact, read_catalogue(self.engine))
                self._stamp = stamp
                return True
            return False

    @staticmethod
    def _serve(artifact: artifacts.Artifact, catalogue: Mapping[str, ItemPublic]) -> Served:
        ids = [str(i) for i in artifact.item_ids]
        served = Served(artifact, item_table(ids, catalogue), tuple(display(catalogue.get(i)) for i in ids))
        # compute the lazy parts now, so that the first request after the swap is not slower
        for name in (
            "matrix",
            "novelty",
            "trending",
            "diversity_similarity",
            "_category_masks",
            "_label_masks",
        ):
            getattr(served, name)
        for column in ("category", "group_id"):
            served.table.codes(column)
        if len(ids) <= _WARM_NEIGHBOURS:
            served.neighbours.fill()  # larger catalogues fill the lists as items are asked
        return served

    # -- serving ---------------------------------------------------------------------

    def visitor(self, who: Who) -> Visitor:
        """The person's latest events: through their profile (every identifier they
        have), or, before the pipeline has made one, by the identifier itself."""
        return self._read(who)[0].visitor

    def _read(self, who: Who) -> tuple[_Kept, _Consent]:
        """The visitor (kept), and the personalization consent of their profile. One
        connection; the events are parsed again only when they changed since the last
        request for the person (a small LRU keyed by the person, checked against the
        latest ``seq``, the count of their events and their identifiers)."""
        limit = self.settings.recommendations.history_events
        recent = self.profiles.recent(who.value, id_type=who.id_type, limit=limit, have=self._have)
        consent = _Consent(
            recent.key,
            recent.key if recent.has_profile else None,
            recent.consent.get("personalization", False) if recent.has_profile else None,
            recent.state.get("personalization"),
        )
        if recent.bodies is None:
            with self._visitors_lock:
                hit = self._visitors.get(recent.key)
            if hit is not None and hit.stamp == recent.stamp:
                return hit, consent
            # evicted or replaced between the two reads: read the events
            recent = self.profiles.recent(who.value, id_type=who.id_type, limit=limit)
        kept = _Kept(recent.stamp, visitor_from_bodies(recent.bodies or ()))
        with self._visitors_lock:
            self._visitors[recent.key] = kept
            self._visitors.move_to_end(recent.key)
            while len(self._visitors) > _VISITORS:
                self._visitors.popitem(last=False)
        return kept, consent

    def forget(self, keys: Iterable[str]) -> int:
        """Drop the kept visitors under these person keys (an erased person: their
        profile ids, ``type:value`` of their identifiers); how many were dropped."""
        dropped = 0
        with self._visitors_lock:
            for key in keys:
                if self._visitors.pop(key, None) is not None:
                    dropped += 1
        return dropped

    def _have(self, key: str, stamp: Stamp) -> bool:
        with self._visitors_lock:
            hit = self._visitors.get(key)
            if hit is not None and hit.stamp == stamp:
                self._visitors.move_to_end(key)
                return True
        return False

    @staticmethod
    def _prepared(kept: _Kept, served: Served) -> Prepared:
        """The kept visitor's arrays for this model version (computed at the first ask)."""
        found = kept.prepared
        if found is not None and found[0]() is served:
            return found[1]
        prepared = prepare(served, kept.visitor)
        kept.prepared = (weakref.ref(served), prepared)  # two requests may both compute it: equal
        return prepared

    def personalization_allowed(
        self, visitor: Visitor, profile_consent: bool | None, profile_choice: Mapping[str, Any] | None = None
    ) -> bool:
        """Consent at decision time: the latest explicit choice of the visitor's recent
        events (the pipeline may not have folded it yet), unless the profile holds a
        choice as recent (at equal times the stricter wins: a refusal kept when two
        profiles were merged is dated at the later of their choices); else the
        profile's; else the default of ``consent.personalization``."""
        if visitor.personalization is not None:
            if profile_choice is not None and (
                int(profile_choice.get("at_ms", 0)),
                not profile_choice.get("granted"),
            ) >= (visitor.personalization_at or 0, not visitor.personalization):
                return bool(profile_choice.get("granted"))
            return visitor.personalization
        if profile_consent is not None:
            return profile_consent
        return self.settings.consent.defaults()["personalization"]

    def recommend(self, query: Query, who: Who | None = None) -> dict[str, Any]:
        """The answer of ``GET``/``POST /v1/recommendations``. Without consent to
        personalization the person's events are not used at all: the answer is the one
        of an unknown visitor (popularity, the item page, the cart), ``personalized``
        false with the reason."""
        served = self._served
        if served is None:
            raise NoModel(
                "no recommendation model has been trained yet: run `surmesure train` "
                "(or set recommendations.retrain_every_minutes)"
            )
        visitor, why, prepared, person = Visitor(), "no person named", None, None
        now_ms = utc_ms(self.clock.now())
        if who is not None:
            kept, person = self._read(who)
            visitor, why = kept.visitor, "no history"
            if self.personalization_allowed(visitor, person.allowed, person.choice):
                prepared = self._prepared(kept, served)
            else:
                visitor, why = Visitor(), NO_CONSENT
        result = answer(served, query, visitor, now_ms=now_ms, prepared=prepared)
        manifest = served.artifact.manifest
        if person is not None:
            self.shown.write(
                at_ms=now_ms, person=person.key, profile_id=person.profile_id, context=query.context,
                personalized=result.personalized, reason=None if result.personalized else why,
                items=result.items,
            )  # fmt: skip
        return {
            "context": query.context,
            "k": query.k,
            "items": result.items,
            "personalized": result.personalized,
            "reason": None if result.personalized else why,
            "unknown_items": result.unknown_items,
            "model": {"version": served.artifact.version, "trained_at": manifest.get("created_at")},
        }
