"""Audits as the rest of the code sees them: ``fairness`` of a placement, segment or
experiment by each protected attribute, and the filter-bubble ``bubble`` report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from surmesure.audit import store
from surmesure.audit.bubble import SHOWN_EVENTS, Shown, bubble_report, shown_lists
from surmesure.audit.fairness import Observation, audit_attribute, group_of
from surmesure.clock import utc_ms
from surmesure.decisions.domain import ExperimentNotFound, PlacementNotFound
from surmesure.decisions.results import CLICK, CONVERSIONS
from surmesure.decisions.service import Decisions
from surmesure.errors import InvalidInput
from surmesure.events import service as events_service
from surmesure.profiles.service import ProfileNotFound
from surmesure.recommendations.catalogue import read_catalogue
from surmesure.recommendations.shown import shown_since

__all__ = ["AttributeNotDeclared", "Audit", "InvalidAuditRequest"]

_DAY_MS = 86_400_000
#: (live profile id or None, visitor, what was shown or None, clicked, converted)
_Seen = tuple[str | None, str, str | None, bool | None, bool | None]
_CHUNK = 500


class InvalidAuditRequest(InvalidInput):
    code = "audit.invalid_request"


class AttributeNotDeclared(InvalidInput):
    code = "audit.attribute_not_declared"


class Audit:
    """Built from the decisions service (its store, settings, profiles and segments)."""

    def __init__(self, decisions: Decisions) -> None:
        self.decisions = decisions
        self.engine = decisions.engine
        self.settings = decisions.settings
        self.options = decisions.settings.audit

    # -- fairness ---------------------------------------------------------------------
    def attributes(self, attribute: str | None) -> list[str]:
        declared = list(self.options.protected)
        if attribute is None:
            if not declared:
                raise AttributeNotDeclared(
                    "no protected attribute is declared: set audit.protected, e.g. "
                    '["traits.gender", "traits.age_band"]'
                )
            return declared
        if attribute not in declared:
            raise AttributeNotDeclared(
                f"{attribute} is not declared for auditing (audit.protected: {declared})",
                attribute=attribute,
                declared=declared,
            )
        return [attribute]

    def fairness(
        self,
        *,
        placement: str | None = None,
        segment: str | None = None,
        experiment: str | None = None,
        attribute: str | None = None,
        days: int | None = None,
    ) -> dict[str, Any]:
        """Who was shown what by each protected attribute, the disparities and alerts."""
        named = [
            (k, v)
            for k, v in (("placement", placement), ("segment", segment), ("experiment", experiment))
            if v
        ]
        if len(named) != 1:
            raise InvalidAuditRequest("name exactly one of placement, segment, experiment")
        kind, subject_id = named[0]
        attributes = self.attributes(attribute)
        since = utc_ms(self.decisions.clock.now()) - days * _DAY_MS if days else None
        with self.engine.connect() as conn:
            if kind == "segment":
                people = self._segment_people(conn, subject_id)
            else:
                people = self._decided_people(conn, kind, subject_id, since)
            traits = self._traits(conn, {pid for pid, *_ in people if pid})
        subject = f"{kind} {subject_id}"
        per_attribute = []
        for attr in attributes:
            observations = [
                Observation(
                    visitor, group_of(traits.get(pid) if pid else None, attr), what, clicked, converted
                )
                for pid, visitor, what, clicked, converted in people
            ]
            per_attribute.append(
                audit_attribute(
                    observations,
                    attr,
                    subject=subject,
                    min_ratio=self.options.min_ratio,
                    min_group=self.options.min_group,
                    alpha=1 - self.options.confidence,
                )
            )
        alerts = [a for p in per_attribute for a in p["alerts"]]
        return {
            "subject": {"kind": kind, "id": subject_id},
            "since_days": days,
            "people": len({p[1] for p in people}),
            "decisions": sum(1 for p in people if p[2] is not None) if kind != "segment" else None,
            "thresholds": {
                "min_ratio": self.options.min_ratio,
                "min_group": self.options.min_group,
                "confidence": self.options.confidence,
            },
            "attributes": per_attribute,
            "alerts": alerts,
            "alert": bool(alerts),
            "targeting_reads_protected": self._targeting_reads_protected(kind, subject_id),
        }

    def _decided_people(
        self, conn: sa.Connection, kind: str, subject_id: str, since: int | None
    ) -> list[_Seen]:
        if kind == "placement" and subject_id not in self.decisions.placements(conn):
            raise PlacementNotFound(f"no placement {subject_id!r}", placement=subject_id)
        if kind == "experiment" and subject_id not in self.decisions.experiments(conn):
            raise ExperimentNotFound(f"no experiment {subject_id!r}", experiment=subject_id)
        rows = store.decisions_of(
            conn,
            placement_id=subject_id if kind == "placement" else None,
            experiment_id=subject_id if kind == "experiment" else None,
            since_ms=since,
        )
        visitor_of: dict[str, str] = {}
        for r in rows:
            if r.person not in visitor_of:
                visitor_of[r.person] = self._visitor(conn, r)
        clicked, converted = self._outcomes(
            conn, visitor_of, {r.decision_id for r in rows if r.suppressed is None}
        )
        out: list[_Seen] = []
        for r in rows:
            visitor = visitor_of[r.person]
            pid = visitor if ":" not in visitor else None
            if r.suppressed is not None:
                out.append((pid, visitor, None, None, None))
                continue
            what = (r.arm or "holdout") if kind == "experiment" else r.variant
            out.append((pid, visitor, what, r.decision_id in clicked, r.decision_id in converted))
        return out

    def _outcomes(
        self, conn: sa.Connection, visitor_of: dict[str, str], wanted: set[str]
    ) -> tuple[set[str], set[str]]:
        """The decisions a ``Placement Clicked`` event names, and those a conversion
        (``Order Completed``, ``Placement Converted``) names: attribution at read time,
        as the experiments' results do."""
        keys = set(visitor_of)
        pids = [v for v in set(visitor_of.values()) if ":" not in v]
        for person_keys in self.decisions.source.keys(conn, pids).values():
            keys.update(person_keys)
        users = sorted(k.split(":", 1)[1] for k in keys if k.startswith("user_id:"))
        anons = sorted(k.split(":", 1)[1] for k in keys if k.startswith("anonymous_id:"))
        clicked: set[str] = set()
        converted: set[str] = set()
        for start in range(0, max(len(users), len(anons)), _CHUNK):
            for event in events_service.events_of(
                conn, users[start : start + _CHUNK], anons[start : start + _CHUNK]
            ):
                if event.event != CLICK and event.event not in CONVERSIONS:
                    continue
                props = orjson.loads(event.body).get("properties") or {}
                decision_id = str(props.get("decision_id", "")) if isinstance(props, dict) else ""
                if decision_id in wanted:
                    (clicked if event.event == CLICK else converted).add(decision_id)
        return clicked, converted

    def _visitor(self, conn: sa.Connection, row: Any) -> str:
        id_type, _, value = str(row.person).partition(":")
        if id_type in ("user_id", "anonymous_id", "email"):
            pid = self.decisions.profiles.resolve_id(conn, value, id_type)
            if pid:
                return pid
        return str(row.profile_id or row.person)

    def _segment_people(self, conn: sa.Connection, segment_id: str) -> list[_Seen]:
        segments = self.decisions.segments
        members: set[str] = set()
        after = ""
        while True:
            page = segments.members(segment_id, limit=5000, after=after)
            members.update(m["profile_id"] for m in page["members"])
            if not page["next_after"]:
                break
            after = page["next_after"]
        out: list[_Seen] = []
        after = ""
        while True:
            ids = self.decisions.source.live_ids(conn, after, 5000)
            if not ids:
                break
            out.extend((pid, pid, "member" if pid in members else None, None, None) for pid in ids)
            after = ids[-1]
        return out

    def _traits(self, conn: sa.Connection, pids: set[str]) -> dict[str, Any]:
        ordered = sorted(pids)
        out: dict[str, Any] = {}
        for start in range(0, len(ordered), _CHUNK):
            for pid, row in self.decisions.source.load(conn, ordered[start : start + _CHUNK]).items():
                out[pid] = row.get("traits") or {}
        return out

    def _targeting_reads_protected(self, kind: str, subject_id: str) -> list[dict[str, str]]:
        """Definitions stored before an attribute was declared may still read it: say so."""
        from surmesure.segments.definitions import check_protected, definition_conditions

        found: list[dict[str, str]] = []
        with self.engine.connect() as conn:
            if kind == "segment":
                defined = self.decisions.segments.definitions(conn).get(subject_id)
                conditions = definition_conditions(defined[0]) if defined else []
            else:
                placement_id = subject_id
                if kind == "experiment":
                    exp = self.decisions.experiments(conn).get(subject_id)
                    placement_id = exp[0].placement if exp else ""
                found_p = self.decisions.placements(conn).get(placement_id)
                conditions = [(f"variants.{v}.when", c) for v, c in found_p[1].items()] if found_p else []
        for where, condition in conditions:
            try:
                check_protected([(where, condition)], self.options.protected)
            except InvalidInput as error:
                found.append({"where": where, "attribute": str(error.details.get("attribute"))})
        return found

    # -- filter bubble ----------------------------------------------------------------
    def bubble(self, *, person: str | None = None, weeks: int | None = None) -> dict[str, Any]:
        """How narrow what people were shown has become, week by week; people flagged."""
        now_ms = utc_ms(self.decisions.clock.now())
        since = now_ms - weeks * 7 * _DAY_MS if weeks else 0
        with self.engine.connect() as conn:
            pid = None
            if person is not None:
                pid = self.decisions.profiles.resolve_id(conn, person)
                if pid is None:
                    raise ProfileNotFound(f"no profile for {person!r}", identifier=person)
            lists = self._shown(conn, since)
            catalogue = read_catalogue(conn)
        categories = {item_id: item.category for item_id, item in catalogue.items()}
        return bubble_report(lists, categories, person=pid, min_diversity=self.options.bubble_min_diversity)

    def _shown(self, conn: sa.Connection, since: int) -> list[Shown]:
        out: list[Shown] = []
        people: dict[tuple[str, str], str] = {}
        after = 0
        while True:
            rows: Sequence[Any] = events_service.events_named(conn, list(SHOWN_EVENTS), after_seq=after)
            if not rows:
                break
            after = int(rows[-1].seq)
            for row in rows:
                if int(row.timestamp_ms) < since:
                    continue
                for key in (("user_id", row.user_id), ("anonymous_id", row.anonymous_id)):
                    if key[1] and key not in people:
                        people[key] = self.decisions.profiles.resolve_id(conn, key[1], key[0]) or ":".join(
                            key
                        )
                who = people.get(("user_id", row.user_id)) if row.user_id else None
                who = who or (people.get(("anonymous_id", row.anonymous_id)) if row.anonymous_id else None)
                if who is None:
                    continue
                out.extend(shown_lists(who, int(row.timestamp_ms), row.body))
        # and the answers of /v1/recommendations the platform logged itself
        live: dict[str, str] = {}
        for profile_id, asked_by, at_ms, items in shown_since(conn, since):
            if not items:
                continue
            person = asked_by
            if profile_id is not None:
                if profile_id not in live:  # a profile merged since: its live one
                    live[profile_id] = self.decisions.profiles.resolve_id(conn, profile_id) or profile_id
                person = live[profile_id]
            out.append(Shown(person, at_ms, tuple(dict.fromkeys(items))))
        return out
