"""Decisions as the rest of the code sees them: define placements and experiments,
``decide`` what a placement shows to a person, read an experiment's results.

The walk of one decision: the person (profile, identifiers, consent) → frequency caps
→ the experiment arm (sticky across merges) → targeting (segments' conditions) →
content (static, a sandboxed template, or recommendations) → one row in the decision
log with its propensity and reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from surmesure import db
from surmesure.clock import Clock, utc_ms
from surmesure.config import Settings
from surmesure.consent.domain import consent_from_context, effective_consent
from surmesure.decisions import content, context, store
from surmesure.decisions.caps import first_exceeded
from surmesure.decisions.domain import (
    CONTEXTUAL,
    Cap,
    Experiment,
    ExperimentNotFound,
    Placement,
    PlacementNotFound,
    Variant,
    check_experiment,
    check_feature_reads,
    parse_experiment,
    parse_placement,
    segments_needed,
)
from surmesure.decisions.log import DecisionLog
from surmesure.decisions.policies import Policies
from surmesure.decisions.render import Renderer, check_template
from surmesure.decisions.results import Attribution, results
from surmesure.experiments.assignment import Arm, Design, Exposure, assign, carry_through_merge
from surmesure.ids import new_id
from surmesure.profiles.service import ProfileService
from surmesure.recommendations.service import Recommendations, Who
from surmesure.segments.definitions import Definition, evaluation_order
from surmesure.segments.evaluate import Person, evaluate, feature_view
from surmesure.segments.rules import Condition
from surmesure.segments.service import ProfileSource, Segments

__all__ = ["NO_CONSENT", "NO_PERSON", "Decisions"]

log = logging.getLogger(__name__)
NO_CONSENT = "no consent for personalization: non-personalized content"
NO_PERSON = "no person named: non-personalized content"
_DEFINITIONS_S = 1.0  # definitions changed by another process are seen within this


@dataclass
class _Someone:
    """The person a decision is for, as far as the store knows them."""

    key: str  # the identifier key asked by
    profile_id: str | None = None
    identifiers: list[str] = field(default_factory=list)
    traits: Mapping[str, Any] = field(default_factory=dict)
    personalized: bool = False
    features: Mapping[str, Any] = field(default_factory=dict)  # the profile's feature state


class Decisions:
    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        clock: Clock,
        profiles: ProfileService,
        segments: Segments,
        recommendations: Recommendations,
        source: ProfileSource,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.profiles = profiles
        self.segments = segments
        self.recommendations = recommendations
        self.source = source
        self.renderer = Renderer()
        self._key = settings.identity.hash_key.get_secret_value().encode()
        self.policies = Policies(clock, self.attribution)  # the bandits, refreshed every minute
        self.log = DecisionLog(engine)
        self._placements: dict[tuple[str, int], tuple[Placement, dict[str, Condition]]] = {}
        self._experiments: dict[tuple[str, int], Experiment] = {}
        self._rows: dict[str, tuple[float, list[Any]]] = {}  # kind → (read at, stored rows)

    # -- definitions ------------------------------------------------------------------
    def placements(self, conn: sa.Connection) -> dict[str, tuple[Placement, dict[str, Condition], int]]:
        out = {}
        for row in self._definitions(conn, "placement"):
            key = (row.placement_id, int(row.version))
            if key not in self._placements:  # parsed once per version
                self._placements[key] = parse_placement(row.placement_id, row.definition)
            placement, conditions = self._placements[key]
            out[row.placement_id] = (placement, conditions, int(row.version))
        return out

    def experiments(self, conn: sa.Connection) -> dict[str, tuple[Experiment, int]]:
        out = {}
        for row in self._definitions(conn, "experiment"):
            key = (row.experiment_id, int(row.version))
            if key not in self._experiments:
                self._experiments[key] = parse_experiment(row.experiment_id, row.definition)
            out[row.experiment_id] = (self._experiments[key], int(row.version))
        return out

    def _definitions(self, conn: sa.Connection, kind: str) -> list[Any]:
        """The stored rows, read at most every ``_DEFINITIONS_S`` (a put here clears them)."""
        kept, now = self._rows.get(kind), time.monotonic()
        if kept is None or not 0 <= now - kept[0] < _DEFINITIONS_S:
            kept = self._rows[kind] = (now, store.load_definitions(conn, kind))
        return kept[1]

    def validate_placement(self, placement_id: str, raw: Any, segment_ids: set[str]) -> Placement:
        from surmesure.decisions.domain import segments_read
        from surmesure.segments.definitions import UnknownSegment

        placement, conditions = parse_placement(placement_id, raw)
        for i, variant in enumerate(placement.variants):
            if variant.template is not None:
                check_template(variant.template, f"placement {placement_id}: variants.{i}.template")
        for sid in sorted(segments_read(conditions) - segment_ids):
            raise UnknownSegment(
                f"placement {placement_id} targets segment {sid!r}, which is not defined",
                placement=placement_id,
                refers_to=sid,
            )
        return placement

    def put_placement(self, placement_id: str, raw: Any) -> dict[str, Any]:
        with db.writing(self.engine) as conn:
            known = set(self.segments.definitions(conn))
            placement = self.validate_placement(placement_id, raw, known)
            raw = placement.model_dump(mode="json", exclude_defaults=True)
            version, _ = store.save_definition(conn, "placement", placement_id, raw, self._now())
        self._rows.clear()
        return {"id": placement_id, "version": version, "definition": raw}

    def put_experiment(self, experiment_id: str, raw: Any) -> dict[str, Any]:
        with db.writing(self.engine) as conn:
            experiment = parse_experiment(experiment_id, raw)
            found = self.placements(conn).get(experiment.placement)
            check_experiment(experiment_id, experiment, found[0] if found else None)
            known = set(self.segments.definitions(conn))
            check_feature_reads(experiment_id, experiment, known, self.segments.refuse_protected)
            raw = experiment.model_dump(mode="json", exclude_defaults=True)
            version, _ = store.save_definition(conn, "experiment", experiment_id, raw, self._now())
        self._rows.clear()
        return {"id": experiment_id, "version": version, "definition": raw}

    def get_placement(self, placement_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = self.placements(conn).get(placement_id)
        if found is None:
            raise PlacementNotFound(f"no placement {placement_id!r}", placement=placement_id)
        return {"id": placement_id, "version": found[2], "definition": found[0].model_dump(mode="json")}

    # -- deciding ---------------------------------------------------------------------
    def decide(
        self, placement_id: str, who: Who | None, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The answer of ``POST /v1/decide``."""
        context = dict(context or {})
        now_ms = self._now()
        decision_id = new_id()
        with self.engine.connect() as conn:
            found = self.placements(conn).get(placement_id)
            if found is None:
                raise PlacementNotFound(f"no placement {placement_id!r}", placement=placement_id)
            placement, conditions, _ = found
            person = self._person(conn, who, context)
            everyone = sorted({person.key, *person.identifiers})
            capped = first_exceeded(
                placement.caps,
                now_ms,
                lambda cap, since: self._count(conn, cap, since, everyone, placement_id, placement),
            )
            experiment = self._running_experiment(conn, placement_id)
            held = store.exposures_of(conn, experiment[0], everyone) if experiment else []
            vector = (
                self._vector(conn, experiment[1], person, now_ms)
                if experiment and experiment[1].kind in CONTEXTUAL
                else None
            )
        row: dict[str, Any] = {
            "decision_id": decision_id, "at_ms": now_ms, "placement_id": placement_id,
            "channel": placement.channel, "person": person.key, "profile_id": person.profile_id,
            "experiment_id": None, "arm": None, "variant": None, "propensity": 1.0,
            "personalized": person.personalized, "suppressed": None, "bandit": None,
        }  # fmt: skip
        base = {"decision_id": decision_id, "placement": placement_id, "channel": placement.channel,
                "slot": placement.slot, "personalized": person.personalized}  # fmt: skip
        if capped is not None:
            row.update(suppressed=capped.reason, reason=capped.reason)
            self.log.write(row)
            return {
                **base,
                "suppressed": True,
                "variant": None,
                "reason": capped.reason,
                "why": [capped.reason],
            }
        why: list[str] = [] if person.personalized else [NO_CONSENT if who is not None else NO_PERSON]
        variant: Variant | None = None
        exposure: dict[str, Any] | None = None
        if experiment is not None:
            experiment_id, design = experiment
            arm_name, propensity, sticky_why, record = self._arm(experiment_id, design, person, held, vector)
            row.update(experiment_id=experiment_id, arm=arm_name or "holdout", propensity=propensity)
            row.update(bandit=record)
            why.append(sticky_why)
            shows = next((a.variant for a in design.arms if a.name == arm_name), None)
            variant = next((v for v in placement.variants if v.id == shows), None)  # None: holdout
            if design.kind == "ab":
                exposure = {
                    "arm": arm_name,
                    "at_ms": now_ms,
                    "decision_id": decision_id,
                    "propensity": propensity,
                }
        if variant is None:
            variant, target_why = self._target(placement, conditions, person, now_ms)
            why.append(target_why)
        answer: dict[str, Any] = {**base, "suppressed": False}
        if variant is not None:
            answer.update(self._content(variant, person, who, context, why))
        row.update(variant=variant.id if variant else None, reason="; ".join(why))
        exposed = (row["experiment_id"], everyone, exposure) if exposure and row["experiment_id"] else None
        self.log.write(row, exposed)  # with the concurrent decisions, in one transaction
        experiment_view = (
            {"id": row["experiment_id"], "arm": row["arm"], "holdout": row["arm"] == "holdout"}
            if row["experiment_id"] else None
        )  # fmt: skip
        if experiment_view is not None and row["bandit"] is not None:
            experiment_view["probabilities"] = row["bandit"]["probabilities"]
        return {
            **answer, "variant": row["variant"], "experiment": experiment_view,
            "propensity": row["propensity"], "reason": "; ".join(why), "why": why,
        }  # fmt: skip

    def _now(self) -> int:
        return utc_ms(self.clock.now())

    def _person(self, conn: sa.Connection, who: Who | None, context: Mapping[str, Any]) -> _Someone:
        bases = self.settings.consent.defaults()
        asked = consent_from_context(dict(context)).get("personalization")
        if who is None:
            return _Someone("anonymous:" + new_id())  # nobody named: nothing to personalize
        candidates = self.profiles.candidate_keys(who.value, who.id_type)
        pid = self.profiles.resolve_id(conn, who.value, who.id_type)
        if pid is None:
            allowed = asked if asked is not None else bases["personalization"]
            return _Someone(candidates[0] if candidates else who.value, personalized=bool(allowed))
        keys = self.source.keys(conn, [pid]).get(pid, [])
        key = next((k for k in candidates if k in keys), candidates[0] if candidates else f"profile_id:{pid}")
        profile = self.source.load(conn, [pid]).get(pid)
        state = profile["consent"] if profile else {}
        allowed = effective_consent(state, bases).get("personalization", False)
        if asked is not None:  # a choice made in the page, newer than what the profile holds
            allowed = asked
        traits = profile["traits"] if profile else {}
        state = profile["features"] if profile else {}
        return _Someone(key, pid, sorted(keys), traits, bool(allowed), state)

    def _count(
        self,
        conn: sa.Connection,
        cap: Cap,
        since: int,
        everyone: list[str],
        placement_id: str,
        placement: Placement,
    ) -> int:
        if cap.scope == "global":
            return store.count_decisions(conn, since_ms=since, placement_id=placement_id)
        return store.count_decisions(
            conn,
            since_ms=since,
            persons=everyone,
            placement_id=placement_id if cap.scope == "placement" else None,
            channel=placement.channel if cap.scope == "channel" else None,
        )

    def _running_experiment(self, conn: sa.Connection, placement_id: str) -> tuple[str, Experiment] | None:
        running = [
            (eid, e)
            for eid, (e, _) in self.experiments(conn).items()
            if e.placement == placement_id and e.status == "running"
        ]
        return min(running, key=lambda x: x[0]) if running else None

    def _arm(
        self,
        experiment_id: str,
        design: Experiment,
        person: _Someone,
        held: list[Any],
        vector: tuple[list[float], str] | None,
    ) -> tuple[str | None, float, str, dict[str, Any] | None]:
        """The arm, its propensity, why, and (for a bandit) the record logged with it."""
        if design.kind != "ab":
            x, on = vector if vector is not None else (None, "")
            chosen = self.policies.choose(experiment_id, design, x)
            record: dict[str, Any] = {"probabilities": chosen.probabilities}
            if x is not None:
                record = {"features": context.names(design.context_features()), "x": x, **record}
            return (
                chosen.arm,
                chosen.propensity,
                f"experiment {experiment_id}: arm {chosen.arm} chosen by {chosen.label}{on} "
                f"(probability {chosen.propensity:.2f})",
                record,
            )
        total = sum(a.weight for a in design.arms)
        share = {a.name: (1 - design.holdout_share) * a.weight / total for a in design.arms}
        recorded = [
            Exposure(experiment_id, r.identifier, r.arm, datetime.fromtimestamp(r.at_ms / 1000, UTC),
                     r.decision_id, float(r.propensity))
            for r in held
        ]  # fmt: skip
        first = carry_through_merge(recorded)  # merged profiles: the earliest exposure wins
        if first is not None:
            arm = first.arm
            return (
                arm,
                first.propensity,
                (f"experiment {experiment_id}: arm {arm or 'holdout'}, kept since the first exposure"),
                None,
            )
        spec = Design(
            experiment_id,
            tuple(Arm(a.name, a.weight) for a in design.arms),
            design.holdout_share,
            design.salt,
        )
        assigned = assign(spec, person.key, self._key)
        propensity = design.holdout_share if assigned.arm is None else share[assigned.arm]
        return (
            assigned.arm,
            propensity,
            (f"experiment {experiment_id}: arm {assigned.arm or 'holdout'} (by a hash of the person)"),
            None,
        )

    def _vector(
        self, conn: sa.Connection, design: Experiment, person: _Someone, now_ms: int
    ) -> tuple[list[float], str]:
        """The contextual bandit's vector for this person (``decisions.context``), and
        what it was built from."""
        features = design.context_features()
        if not person.personalized:
            return context.encode(features, {}, {}, {}), " without profile features (no consent)"
        if person.profile_id is None:
            return context.encode(features, {}, {}, {}), " on an unknown visitor's features (all 0)"
        roots = {f.parts()[0] for f in features}
        half_life = self.settings.identity.affinity_half_life_days
        view = (
            feature_view(person.features, now_ms, half_life)
            if "features" in roots and person.features
            else {}
        )
        members = self.segments.memberships(conn, person.profile_id) if "segments" in roots else {}
        return context.encode(features, person.traits, view, members), " on the person's features"

    def _target(
        self, placement: Placement, conditions: Mapping[str, Condition], person: _Someone, now_ms: int
    ) -> tuple[Variant | None, str]:
        """The targeted variant of highest priority whose condition holds, else the fallback."""
        if person.personalized and conditions:
            matched = self._matching(conditions, person, now_ms)
            ranked = sorted(placement.variants, key=lambda v: -v.priority)
            for variant in ranked:
                if variant.id in matched:
                    return variant, f"targeted: {variant.id} matches {_describe(variant.when)}"
        fallback = placement.fallback_variant()
        if fallback is None:
            return None, "no variant matches and the placement has no fallback"
        return fallback, f"fallback variant {fallback.id}"

    def _matching(self, conditions: Mapping[str, Condition], person: _Someone, now_ms: int) -> set[str]:
        if person.profile_id is None:
            bases = self.settings.consent.defaults()
            empty = Person("", {}, {}, effective_consent({}, bases), [])
            return {vid for vid, c in conditions.items() if evaluate(c, empty, now_ms)}
        with self.engine.connect() as conn:
            known = {sid: d for sid, (d, _) in self.segments.definitions(conn).items() if d.kind == "segment"}
            adhoc = {
                f"__{vid}": Definition(f"__{vid}", "segment", {}, condition=c)
                for vid, c in conditions.items()
            }
            order = evaluation_order({**segments_needed(known, conditions.values()), **adhoc})
            values = self.segments.evaluate_people(conn, [person.profile_id], order, now_ms)
        return {vid for vid in conditions if (f"__{vid}", person.profile_id) in values}

    def _content(
        self, variant: Variant, person: _Someone, who: Who | None, context: Mapping[str, Any], why: list[str]
    ) -> dict[str, Any]:
        personal = person.personalized
        traits = person.traits if personal else {}
        recommend = self.recommendations.recommend
        return content.produce(
            variant, self.engine, self.renderer, recommend, traits, who if personal else None, context, why
        )

    # -- results ----------------------------------------------------------------------
    def attribution(self, experiment_id: str) -> Attribution:
        with self.engine.connect() as conn:
            rows = store.decisions_of_experiment(conn, experiment_id)
            return Attribution.read(conn, rows, self.profiles, self.source)

    def results(self, experiment_id: str, tau2: float = 0.0025, alpha: float = 0.05) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = self.experiments(conn).get(experiment_id)
        if found is None:
            raise ExperimentNotFound(f"no experiment {experiment_id!r}", experiment=experiment_id)
        experiment = found[0]
        arms = [a.name for a in experiment.arms] + (["holdout"] if experiment.holdout_share > 0 else [])
        return {
            "id": experiment_id,
            "kind": experiment.kind,
            **results(self.attribution(experiment_id), arms, tau2, alpha),
        }


def _describe(condition: Any) -> str:
    if isinstance(condition, Mapping) and set(condition) == {"segment"}:
        return f"segment {condition['segment']}"
    return "its targeting rule"
