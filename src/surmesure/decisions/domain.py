"""Placements, variants, caps and experiments as data: pydantic models, validated with
paths in the errors; targeting conditions are the segments' condition language (data,
never evaluated as code).

A placement is a named slot on a channel (a ``web`` zone, an ``email`` block) with
content variants; each variant is static content, a template, or a recommendation
strategy, optionally targeted by a condition, ranked by priority; the ``fallback``
variant is shown when no targeted variant matches (and to people without consent to
personalization).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from surmesure.errors import InvalidInput, NotFound
from surmesure.recommendations.serving import Algorithm
from surmesure.segments.definitions import Definition
from surmesure.segments.rules import Condition, parse_condition, referenced_segments

__all__ = [
    "CONTEXTUAL",
    "Cap",
    "ContextFeature",
    "Experiment",
    "ExperimentArm",
    "ExperimentNotFound",
    "InvalidExperiment",
    "InvalidFeatures",
    "InvalidPlacement",
    "Placement",
    "PlacementNotFound",
    "RecommendStrategy",
    "Variant",
    "parse_experiment",
    "parse_placement",
]

_ID = r"^[a-z0-9_-]{1,64}$"


class InvalidPlacement(InvalidInput):
    code = "decisions.invalid_placement"


class InvalidExperiment(InvalidInput):
    code = "decisions.invalid_experiment"


class InvalidFeatures(InvalidExperiment):
    """A contextual bandit's ``features`` list is not valid (a subclass of the experiment's error)."""

    code = "decisions.invalid_features"


class PlacementNotFound(NotFound):
    code = "decisions.placement_not_found"


class ExperimentNotFound(NotFound):
    code = "decisions.experiment_not_found"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecommendStrategy(_Strict):
    """Items from the recommendations capability: a context, ``k`` and serving rules."""

    context: Literal["home", "item", "cart", "email"] = "home"
    #: what ranks: the default model or one of its parts alone (algorithm against
    #: algorithm on one placement: one variant each)
    algorithm: Algorithm = "hybrid"
    k: int = Field(default=4, ge=1, le=50)
    categories: list[str] = Field(default_factory=list, max_length=100)
    exclude_categories: list[str] = Field(default_factory=list, max_length=100)
    labels_any: list[str] = Field(default_factory=list, max_length=100)
    price_min: float | None = Field(default=None, ge=0)
    price_max: float | None = Field(default=None, ge=0)
    in_stock: bool = True
    exclude_bought: bool = True
    diversity: float = Field(default=0.0, ge=0, le=1)


class Variant(_Strict):
    """One content variant: exactly one of ``content``, ``template``, ``recommend``."""

    id: str = Field(pattern=_ID)
    priority: int = Field(default=0, ge=-1000, le=1000)
    when: dict[str, Any] | None = None  # a segments condition (docs/segments.md)
    content: dict[str, Any] | None = None
    template: str | None = Field(default=None, max_length=20_000)
    recommend: RecommendStrategy | None = None
    title: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _one_kind(self) -> Variant:
        kinds = [k for k in ("content", "template", "recommend") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a variant has exactly one of content, template, recommend")
        return self

    @property
    def kind(self) -> str:
        return (
            "content"
            if self.content is not None
            else "template"
            if self.template is not None
            else "recommend"
        )


class Cap(_Strict):
    """At most ``max`` decisions within ``within_hours``.

    ``scope``: ``person`` (this person, any placement), ``placement`` (this person, this
    placement), ``channel`` (this person, this channel), ``global`` (everyone, this
    placement).
    """

    scope: Literal["person", "placement", "channel", "global"]
    max: int = Field(ge=0, le=1_000_000)
    within_hours: float = Field(gt=0, le=24 * 365)


class Placement(_Strict):
    channel: Literal["web", "email"]
    slot: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    variants: list[Variant] = Field(min_length=1, max_length=50)
    fallback: str | None = None
    caps: list[Cap] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _check(self) -> Placement:
        ids = [v.id for v in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("variant ids must be unique")
        if self.fallback is not None and self.fallback not in ids:
            raise ValueError(f"fallback {self.fallback!r} is not one of the variants")
        return self

    def variant(self, variant_id: str) -> Variant:
        return next(v for v in self.variants if v.id == variant_id)

    def fallback_variant(self) -> Variant | None:
        """The declared fallback, else the untargeted variant of highest priority."""
        if self.fallback is not None:
            return self.variant(self.fallback)
        plain = [v for v in self.variants if v.when is None]
        return max(plain, key=lambda v: v.priority) if plain else None


class ExperimentArm(_Strict):
    name: str = Field(pattern=_ID)
    variant: str
    weight: float = Field(default=1.0, gt=0, le=1_000_000)


#: the bandits that choose from the person's feature vector
CONTEXTUAL = frozenset({"linear_thompson", "lin_ucb"})
MAX_FEATURES = 20
#: numeric features of ``features.read`` (``segments.evaluate.feature_view``), and the maps of them
_SCALAR_FEATURES = frozenset(
    {"frequency", "orders", "monetary", "average_order_value", "recency_days", "preferred_hour"}
)
_MAP_FEATURES = frozenset({"event_counts", "category_affinity", "brand_affinity"})
_TEXT_FEATURES = frozenset({"preferred_channel"})  # only with ``eq``
_PART = re.compile(r"^[^.{}()\[\]<>`\\$;\x00-\x1f]{1,100}$")
_Scalar = str | int | float | bool


class ContextFeature(_Strict):
    """One coordinate of a contextual bandit's vector (docs/decisions.md, "Contextual bandits").

    ``field`` is ``traits.<name>[.<name>...]``, ``features.<numeric feature>[.<name>]`` or
    ``segments.<id>`` (the membership value: true for a segment, the points of a score, the
    name of a persona). The value is encoded as a number (true 1, false 0, a finite number
    as is, anything else or missing 0), or with ``eq`` as 1 when equal else 0; ``log1p``
    gives ``log(1 + max(v, 0))`` (counts, money).
    """

    field: str = Field(max_length=200)
    eq: _Scalar | None = None
    transform: Literal["none", "log1p"] = "none"

    def parts(self) -> tuple[str, ...]:
        root, _, rest = self.field.partition(".")
        if root == "features":
            name, _, key = rest.partition(".")
            return (root, name, key) if key else (root, name)
        return (root, *rest.split("."))

    @property
    def name(self) -> str:
        if self.eq is not None:
            return f"{self.field} == {self.eq!r}"
        return f"log1p({self.field})" if self.transform == "log1p" else self.field


def _feature_problem(feature: ContextFeature) -> str | None:
    """Why the path's shape is not one a feature vector can read, or None."""
    root, _, rest = feature.field.partition(".")
    if root not in ("traits", "features", "segments") or not rest:
        return "a feature is traits.<name>, features.<name>[.<key>] or segments.<id>"
    parts = feature.parts()
    if any(not _PART.match(p) for p in parts[1:]):
        return "a path part is 1 to 100 characters, without . { } ( ) [ ] < > ` \\ $ ;"
    if root == "traits" and len(parts) > 5:
        return "a trait path has at most 4 names after traits."
    if root == "segments" and (len(parts) != 2 or not re.fullmatch(_ID, parts[1])):
        return "segments.<id> names one segment, score or persona"
    if root == "features":
        name = parts[1]
        if name in _MAP_FEATURES and len(parts) != 3:
            return f"features.{name} is a map: name one key, e.g. features.{name}.<key>"
        if name in _SCALAR_FEATURES | _TEXT_FEATURES and len(parts) != 2:
            return f"features.{name} is a single value: nothing may follow it"
        if name in _TEXT_FEATURES and feature.eq is None:
            return f"features.{name} is text: compare it with eq"
        if name not in _SCALAR_FEATURES | _MAP_FEATURES | _TEXT_FEATURES:
            known = ", ".join(sorted(_SCALAR_FEATURES | _MAP_FEATURES | _TEXT_FEATURES))
            return f"unknown feature {name!r}; the numeric features are {known}"
    if feature.eq is not None and feature.transform != "none":
        return "eq and transform cannot be combined"
    return None


class Experiment(_Strict):
    """An A/B/n test (``ab``, sticky, with a holdout), a Bernoulli Thompson bandit
    (``thompson``) or a contextual bandit on the person's features (``linear_thompson``,
    ``lin_ucb``), rewarded by clicks, on one placement's variants."""

    placement: str = Field(pattern=_ID)
    kind: Literal["ab", "thompson", "linear_thompson", "lin_ucb"] = "ab"
    arms: list[ExperimentArm] = Field(min_length=1, max_length=20)
    holdout_share: float = Field(default=0.0, ge=0, lt=1)
    salt: str = Field(default="", max_length=64)
    status: Literal["running", "stopped"] = "running"
    floor: float = Field(default=0.05, ge=0, le=0.5)
    ceiling: float = Field(default=1.0, gt=0, le=1)
    features: list[str | ContextFeature] = Field(default_factory=list, max_length=100)
    exploration: float = Field(default=0.5, ge=0, le=10)
    ridge: float = Field(default=1.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        if "holdout" in names:
            raise ValueError("'holdout' names the people held out; call the arm something else")
        if self.kind != "ab" and self.floor * len(self.arms) > 1:
            raise ValueError("floor times the number of arms must be at most 1")
        if self.kind != "ab" and (self.ceiling < self.floor or self.ceiling * len(self.arms) < 1):
            raise ValueError("ceiling must be at least the floor, and times the number of arms at least 1")
        if self.kind in CONTEXTUAL and self.holdout_share > 0:
            raise ValueError("a contextual bandit has no holdout (holdout_share is for ab)")
        return self

    def context_features(self) -> list[ContextFeature]:
        """The feature list with every shorthand path as a :class:`ContextFeature`."""
        return [ContextFeature(field=f) if isinstance(f, str) else f for f in self.features]


def check_features(experiment_id: str, experiment: Experiment) -> None:
    """The ``features`` list fits the kind, and every path has a shape a vector can read."""

    def fail(message: str, path: str) -> None:
        raise InvalidFeatures(
            f"experiment {experiment_id}: {path}: {message}",
            experiment=experiment_id,
            problems=[{"path": path, "message": message}],
        )

    features = experiment.context_features()
    if experiment.kind not in CONTEXTUAL:
        if features:
            fail(f"features are for the contextual kinds ({', '.join(sorted(CONTEXTUAL))})", "features")
        return
    if not features:
        fail("a contextual bandit needs at least one feature (an intercept is always added)", "features")
    if len(features) > MAX_FEATURES:
        fail(f"at most {MAX_FEATURES} features, got {len(features)}", "features")
    seen: set[str] = set()
    for i, feature in enumerate(features):
        problem = _feature_problem(feature)
        if problem is not None:
            fail(f"{feature.field!r}: {problem}", f"features.{i}")
        if feature.name in seen:
            fail(f"{feature.name!r} is listed twice", f"features.{i}")
        seen.add(feature.name)


def feature_segments(experiment: Experiment) -> set[str]:
    """The segments (scores, personas) a contextual bandit's features read."""
    return {f.parts()[1] for f in experiment.context_features() if f.parts()[0] == "segments"}


def check_feature_reads(
    experiment_id: str,
    experiment: Experiment,
    known: set[str],
    refuse_protected: Callable[..., None],
) -> None:
    """Every segment a contextual bandit's features read is defined (else
    ``segments.unknown_segment``), and ``refuse_protected`` (the segments service's) sees
    each trait and feature path as the condition it amounts to: a protected attribute
    (``audit.protected``) is audited, never targeted (``segments.protected_attribute``)."""
    from surmesure.segments.definitions import UnknownSegment

    for sid in sorted(feature_segments(experiment) - known):
        raise UnknownSegment(
            f"experiment {experiment_id} reads segment {sid!r} as a feature, which is not defined",
            experiment=experiment_id,
            refers_to=sid,
        )
    reads = [
        (f"features.{i}", parse_condition({"field": f.field, "exists": True}, where=f"features.{i}"))
        for i, f in enumerate(experiment.context_features())
        if f.parts()[0] != "segments"
    ]
    refuse_protected(reads, experiment=experiment_id)


def _problems(error: ValidationError) -> list[dict[str, str]]:
    return [
        {"path": ".".join(str(p) for p in e["loc"]) or "$", "message": str(e["msg"])}
        for e in error.errors(include_url=False)
    ]


def _check_id(kind: str, object_id: str, error: type[InvalidInput]) -> None:
    if not re.fullmatch(_ID, object_id):
        raise error(
            f"a {kind} id is 1 to 64 of a-z, 0-9, _ and -", problems=[{"path": "id", "message": "bad id"}]
        )


def parse_placement(placement_id: str, raw: Any) -> tuple[Placement, dict[str, Condition]]:
    """A validated placement and its variants' parsed conditions (by variant id)."""
    _check_id("placement", placement_id, InvalidPlacement)
    if not isinstance(raw, Mapping):
        raise InvalidPlacement(f"placement {placement_id}: expected an object", placement=placement_id)
    try:
        placement = Placement.model_validate(dict(raw))
    except ValidationError as error:
        problems = _problems(error)
        first = problems[0]
        raise InvalidPlacement(
            f"placement {placement_id}: {first['path']}: {first['message']}",
            placement=placement_id,
            problems=problems,
        ) from None
    conditions: dict[str, Condition] = {}
    for i, variant in enumerate(placement.variants):
        if variant.when is not None:
            try:
                conditions[variant.id] = parse_condition(variant.when, where=f"variants.{i}.when")
            except InvalidInput as error:
                error.details["placement"] = placement_id
                raise
    return placement, conditions


def segments_needed(
    known: Mapping[str, Definition], conditions: Iterable[Condition]
) -> dict[str, Definition]:
    """The segments these conditions read, and the ones those read: only they are
    evaluated for a decision (not every segment defined)."""
    needed: dict[str, Definition] = {}
    stack = [sid for c in conditions for sid in referenced_segments(c)]
    while stack:
        sid = stack.pop()
        if sid in needed or sid not in known:
            continue
        needed[sid] = known[sid]
        stack.extend(r for c in known[sid].conditions() for r in referenced_segments(c))
    return needed


def segments_read(conditions: Mapping[str, Condition]) -> set[str]:
    return {s for c in conditions.values() for s in referenced_segments(c)}


def parse_experiment(experiment_id: str, raw: Any) -> Experiment:
    _check_id("experiment", experiment_id, InvalidExperiment)
    if not isinstance(raw, Mapping):
        raise InvalidExperiment(f"experiment {experiment_id}: expected an object", experiment=experiment_id)
    try:
        experiment = Experiment.model_validate(dict(raw))
    except ValidationError as error:
        problems = _problems(error)
        first = problems[0]
        kind = InvalidFeatures if first["path"].split(".")[0] == "features" else InvalidExperiment
        raise kind(
            f"experiment {experiment_id}: {first['path']}: {first['message']}",
            experiment=experiment_id,
            problems=problems,
        ) from None
    check_features(experiment_id, experiment)
    return experiment


def check_experiment(experiment_id: str, experiment: Experiment, placement: Placement | None) -> None:
    """The experiment's placement exists and every arm names one of its variants."""
    if placement is None:
        raise InvalidExperiment(
            f"experiment {experiment_id}: placement {experiment.placement!r} is not defined",
            experiment=experiment_id,
            problems=[{"path": "placement", "message": "not defined"}],
        )
    ids = {v.id for v in placement.variants}
    for i, arm in enumerate(experiment.arms):
        if arm.variant not in ids:
            raise InvalidExperiment(
                f"experiment {experiment_id}: arm {arm.name} shows {arm.variant!r}, not a variant of "
                f"{experiment.placement}",
                experiment=experiment_id,
                problems=[{"path": f"arms.{i}.variant", "message": "not a variant of the placement"}],
            )
