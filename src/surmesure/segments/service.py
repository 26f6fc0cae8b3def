"""Segments as the rest of the code sees them: define, evaluate, list members.

``Segments.process(conn, rows, now_ms)`` is the pipeline step: it re-evaluates every
definition for the people the step's events belong to. ``recompute()`` evaluates
everyone; both go through :meth:`Segments.evaluate_people`, so, at the same
``now_ms`` and over the same store, they write the same rows.

Profiles are read through a :class:`ProfileSource` the composition supplies (the
profiles capability keeps its tables to itself); events through the events service.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from surmesure import db
from surmesure.clock import Clock, utc_ms
from surmesure.config import Settings
from surmesure.consent.domain import effective_consent
from surmesure.errors import InvalidInput, NotFound
from surmesure.events import service as events_service
from surmesure.profiles.service import ProfileService
from surmesure.profiles.summary import Step
from surmesure.segments import store
from surmesure.segments.definitions import (
    Definition,
    check_protected,
    check_references,
    definition_conditions,
    evaluation_order,
    parse_definition,
)
from surmesure.segments.evaluate import DAY_MS, Person, evaluate, feature_view
from surmesure.segments.rules import Condition, FieldTest, walk, windows

__all__ = ["ProfileSource", "SegmentNotFound", "Segments"]

_CHUNK = 500
log = logging.getLogger(__name__)


class SegmentNotFound(NotFound):
    code = "segments.not_found"


class ProfileSource(Protocol):
    """Read access to profiles, supplied by the composition (``pipeline.py``)."""

    def pids_of(self, conn: sa.Connection, keys: Iterable[str]) -> set[str]:
        """Live profiles of identifier keys (``user_id:…``, ``anonymous_id:…``)."""

    def load(self, conn: sa.Connection, pids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """Live profile rows (``traits``, ``features`` state, ``consent``) by id."""

    def keys(self, conn: sa.Connection, pids: Iterable[str]) -> dict[str, list[str]]:
        """Identifier keys of each profile."""

    def absorbed(self, conn: sa.Connection, pids: Iterable[str]) -> list[str]:
        """Profiles merged into these."""

    def live_ids(self, conn: sa.Connection, after: str, limit: int) -> list[str]:
        """Live profile ids greater than ``after``, in order."""


class Segments:
    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        clock: Clock,
        profiles: ProfileService,
        source: ProfileSource,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.profiles = profiles
        self.source = source
        self._parsed: dict[tuple[str, int], Definition] = {}

    # -- definitions ------------------------------------------------------------------
    def definitions(self, conn: sa.Connection) -> dict[str, tuple[Definition, int]]:
        out: dict[str, tuple[Definition, int]] = {}
        for row in store.load_definitions(conn):
            key = (row.segment_id, int(row.version))
            if key not in self._parsed:
                try:
                    self._parsed[key] = parse_definition(row.segment_id, row.definition)
                except InvalidInput as error:
                    # stored by an older version with other rules: left out, not fatal to the pipeline
                    log.warning("segment %s v%s is no longer valid: %s", row.segment_id, row.version, error)
                    continue
            out[row.segment_id] = (self._parsed[key], int(row.version))
        return out

    def put(self, segment_id: str, raw: Any) -> dict[str, Any]:
        """Create or replace a definition (validated against the others: references, cycles)."""
        definition = parse_definition(segment_id, raw)
        self.refuse_protected(definition_conditions(definition), segment=segment_id)
        now_ms = utc_ms(self.clock.now())
        with db.writing(self.engine) as conn:
            known = {sid: d for sid, (d, _) in self.definitions(conn).items()}
            known[segment_id] = definition
            check_references(known)
            version = store.save_definition(conn, segment_id, definition.kind, definition.raw, now_ms)
        return {"id": segment_id, "kind": definition.kind, "version": version, "definition": definition.raw}

    def refuse_protected(self, conditions: Iterable[tuple[str, Condition]], **details: Any) -> None:
        """``segments.protected_attribute`` when a condition reads an attribute declared
        for fairness audits (``audit.protected``): those are never used for targeting."""
        check_protected(conditions, self.settings.audit.protected, **details)

    def summaries(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = store.load_definitions(conn)
            counted = sa.select(store.members.c.segment_id, sa.func.count()).group_by(
                store.members.c.segment_id
            )
            sizes: dict[str, int] = {sid: int(n) for sid, n in conn.execute(counted)}
        return [
            {
                "id": r.segment_id,
                "kind": r.kind,
                "version": r.version,
                "size": int(sizes.get(r.segment_id, 0)),
            }
            for r in rows
        ]

    def get(self, segment_id: str) -> dict[str, Any]:
        """The definition, its size and the revenue of its members (sum of ``features.monetary``)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(store.definitions).where(store.definitions.c.segment_id == segment_id)
            ).first()
            if row is None:
                raise SegmentNotFound(f"no segment {segment_id!r}", segment=segment_id)
            pids = list(
                conn.execute(
                    sa.select(store.members.c.profile_id).where(store.members.c.segment_id == segment_id)
                ).scalars()
            )
            revenue = 0.0
            for start in range(0, len(pids), _CHUNK):
                for profile in self.source.load(conn, pids[start : start + _CHUNK]).values():
                    revenue += float(profile["features"].get("revenue", 0.0))
        return {
            "id": segment_id,
            "kind": row.kind,
            "version": row.version,
            "definition": row.definition,
            "size": len(pids),
            "revenue": round(revenue, 2),
            "updated_at": _iso(row.updated_ms),
        }

    def members(self, segment_id: str, *, limit: int = 100, after: str = "") -> dict[str, Any]:
        with self.engine.connect() as conn:
            if (
                conn.execute(
                    sa.select(store.definitions.c.segment_id).where(
                        store.definitions.c.segment_id == segment_id
                    )
                ).first()
                is None
            ):
                raise SegmentNotFound(f"no segment {segment_id!r}", segment=segment_id)
            m = store.members
            rows = conn.execute(
                sa.select(m)
                .where(m.c.segment_id == segment_id, m.c.profile_id > after)
                .order_by(m.c.profile_id)
                .limit(limit + 1)
            ).all()
        page = rows[:limit]
        return {
            "members": [
                {"profile_id": r.profile_id, "since": _iso(r.since_ms), "value": r.value} for r in page
            ],
            "next_after": page[-1].profile_id if len(rows) > limit else None,
        }

    def of_profile(self, identifier: str, id_type: str | None = None) -> dict[str, Any]:
        with self.engine.connect() as conn:
            pid = self.profiles.resolve_id(conn, identifier, id_type)
            if pid is None:
                self.profiles.require(identifier, id_type)  # raises profiles.not_found
                raise AssertionError("unreachable")  # pragma: no cover
            rows = store.members_of_profiles(conn, [pid])
            kinds = {sid: d.kind for sid, (d, _) in self.definitions(conn).items()}
        out: dict[str, Any] = {"profile_id": pid, "segments": [], "scores": {}, "personas": {}}
        for (sid, _pid), (since, value) in sorted(rows.items()):
            kind = kinds.get(sid)
            if kind == "segment":
                out["segments"].append({"id": sid, "since": _iso(since)})
            elif kind == "score":
                out["scores"][sid] = value
            elif kind == "persona":
                out["personas"][sid] = value
        return out

    def memberships(self, conn: sa.Connection, profile_id: str) -> dict[str, Any]:
        """Segment id → the stored value (true, a score's points, a persona's name) of one
        profile, as the pipeline keeps it (within a second of an event)."""
        rows = store.members_of_profiles(conn, [profile_id])
        return {sid: value for (sid, _pid), (_since, value) in rows.items()}

    # -- evaluation -------------------------------------------------------------------
    def evaluate_people(
        self, conn: sa.Connection, pids: Sequence[str], order: Sequence[Definition], now_ms: int
    ) -> dict[tuple[str, str], Any]:
        """(definition, profile) → value for every row these people should have."""
        rows = self.source.load(conn, pids)
        spans = [d.window_days() for d in order]
        counted = [w for w in spans if w is not None]
        horizon = None if not counted else (0 if 0 in counted else max(counted))
        keys = self.source.keys(conn, list(rows)) if horizon is not None else {}
        specs = [spec for d in order for c in d.conditions() for spec in windows(c)]
        names = None if any(s.event is None for s in specs) else frozenset(str(s.event) for s in specs)
        events = _events_of_people(conn, keys, horizon, now_ms, names)
        reads_features = any(
            isinstance(n, FieldTest) and n.field.startswith("features.")
            for d in order
            for c in d.conditions()
            for n in walk(c)
        )
        bases = self.settings.consent.defaults()
        half_life = self.settings.identity.affinity_half_life_days
        out: dict[tuple[str, str], Any] = {}
        for pid, row in rows.items():
            person = Person(
                pid,
                row["traits"],
                feature_view(row["features"], now_ms, half_life) if reads_features else {},
                effective_consent(row["consent"], bases),
                events.get(pid, []),
            )
            for definition in order:
                value = _value(definition, person, now_ms)
                if definition.kind == "segment":
                    person.segments[definition.segment_id] = bool(value)
                if value is not None and value is not False and value != 0:
                    out[(definition.segment_id, pid)] = value
        return out

    def process(self, conn: sa.Connection, rows: Sequence[Any], now_ms: int, step: Step | None = None) -> int:
        """The pipeline step: re-evaluate the people these committed events belong to.

        ``conn`` must already see the profiles the events changed (run it after the
        profile step's writes, in the same transaction). With a ``step`` the writes wait
        in it; without one they are made on ``conn``.
        """
        defined = self.definitions(conn)
        if not defined or not rows:
            return len(rows)
        keys: set[str] = set()
        for row in rows:
            body = orjson.loads(row.body)
            for field, kind in (("userId", "user_id"), ("anonymousId", "anonymous_id")):
                value = body.get(field)
                if isinstance(value, str) and value:
                    keys.add(f"{kind}:{value}")
        pids = sorted(self.source.pids_of(conn, keys))
        gone = self.source.absorbed(conn, pids)
        order = evaluation_order({sid: d for sid, (d, _) in defined.items()})
        new = self.evaluate_people(conn, pids, order, now_ms)
        old = store.members_of_profiles(conn, pids)

        def write(c: sa.Connection) -> None:
            store.delete_members_of_profiles(c, gone)
            store.write_members(c, new, old, now_ms)

        if step is None:
            write(conn)
        else:
            step.write(write)
        return len(rows)

    def recompute(self, segment_id: str | None = None) -> dict[str, Any]:
        """Evaluate everyone (for one definition and what it reads, or all); same rows as the step."""
        now_ms = utc_ms(self.clock.now())
        with self.engine.connect() as conn:
            defined = {sid: d for sid, (d, _) in self.definitions(conn).items()}
        if segment_id is not None and segment_id not in defined:
            raise SegmentNotFound(f"no segment {segment_id!r}", segment=segment_id)
        order = evaluation_order(defined)
        scope = set(defined) if segment_id is None else _closure(segment_id, defined)
        order = [d for d in order if d.segment_id in scope]
        changed, people, after = 0, 0, ""
        seen: set[str] = set()
        while True:
            with self.engine.connect() as conn:
                pids = self.source.live_ids(conn, after, _CHUNK)
                if not pids:
                    break
                new = self.evaluate_people(conn, pids, order, now_ms)
            with db.writing(self.engine) as conn:
                old = {k: v for k, v in store.members_of_profiles(conn, pids).items() if k[0] in scope}
                changed += store.write_members(conn, new, old, now_ms)
            seen.update(pids)
            people += len(pids)
            after = pids[-1]
        with db.writing(self.engine) as conn:
            m = store.members
            stale = [
                (s, p)
                for s, p in conn.execute(
                    sa.select(m.c.segment_id, m.c.profile_id).where(m.c.segment_id.in_(sorted(scope)))
                )
                if p not in seen
            ]
            for s, p in stale:
                conn.execute(m.delete().where(m.c.segment_id == s, m.c.profile_id == p))
        return {"profiles": people, "changed": changed + len(stale), "definitions": sorted(scope)}


def _closure(segment_id: str, defined: Mapping[str, Definition]) -> set[str]:
    out, todo = set(), [segment_id]
    while todo:
        sid = todo.pop()
        if sid not in out and sid in defined:
            out.add(sid)
            todo.extend(defined[sid].needs())
    return out


def _value(definition: Definition, person: Person, now_ms: int) -> Any:
    if definition.kind == "segment":
        assert definition.condition is not None
        return evaluate(definition.condition, person, now_ms)
    if definition.kind == "score":
        total = sum(points for condition, points in definition.rules if evaluate(condition, person, now_ms))
        return round(total, 6)
    for name, condition in definition.personas:
        if evaluate(condition, person, now_ms):
            return name
    return definition.default


def _events_of_people(
    conn: sa.Connection,
    keys: Mapping[str, list[str]],
    horizon: int | None,
    now_ms: int,
    names: frozenset[str] | None,
) -> dict[str, list[tuple[int, Any]]]:
    """Each person's events of the last ``horizon`` days (all when 0), read in a few
    queries for everyone; only events named in ``names`` when it is given."""
    out: dict[str, list[tuple[int, Any]]] = {pid: [] for pid in keys}
    if horizon is None:
        return out
    owner = {key: pid for pid, person_keys in keys.items() for key in person_keys}
    users = sorted(k.split(":", 1)[1] for k in owner if k.startswith("user_id:"))
    anons = sorted(k.split(":", 1)[1] for k in owner if k.startswith("anonymous_id:"))
    since = now_ms - horizon * DAY_MS if horizon else None
    for start in range(0, max(len(users), len(anons)), _CHUNK):
        rows = events_service.events_of(conn, users[start : start + _CHUNK], anons[start : start + _CHUNK])
        for r in rows:
            if (since is not None and r.timestamp_ms < since) or (names is not None and r.event not in names):
                continue
            key = f"user_id:{r.user_id}" if r.user_id is not None else f"anonymous_id:{r.anonymous_id}"
            pid = owner.get(key)
            if pid is not None:
                out[pid].append((r.timestamp_ms, orjson.loads(r.body)))
    for events in out.values():
        events.sort(key=lambda e: e[0])
    return out


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
