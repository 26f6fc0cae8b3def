"""Conditions as data: a JSON/YAML tree of a fixed set of operators, parsed into typed
nodes and never evaluated as code.

A condition is one of::

    {"field": "traits.plan", "eq": "pro"}                  # traits.*, features.*
    {"count": {"event": "Product Viewed",
               "where": {"properties.category": {"eq": "Shoes"}},
               "within_days": 7}, "gte": 3}                # events in a time window
    {"consent": "marketing"}                               # allowed for this purpose
    {"segment": "vip"}                                     # member of another segment
    {"and": [...]}, {"or": [...]}, {"not": {...}}

Comparisons: ``eq ne gt gte lt lte in not_in exists contains``. There is no regular
expression operator, no template, no expression language: values are only compared.
Paths are dotted names of a fixed shape; trees are bounded in depth and size.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, ValidationError

from surmesure.errors import InvalidInput

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "OPERATORS",
    "And",
    "Comparison",
    "Condition",
    "ConditionTooLarge",
    "Consent",
    "Count",
    "FieldTest",
    "InvalidCondition",
    "Member",
    "Not",
    "Or",
    "parse_condition",
    "paths_read",
    "referenced_segments",
    "walk",
    "windows",
]

MAX_DEPTH = 12
MAX_NODES = 200
MAX_WINDOW_DAYS = 730
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "contains")


class InvalidCondition(InvalidInput):
    code = "segments.invalid_condition"


class ConditionTooLarge(InvalidInput):
    code = "segments.condition_too_large"


_Name = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
]
#: ``traits.plan``, ``features.category_affinity.Shoes``: a root and dotted plain names
_ProfilePath = Annotated[
    str,
    StringConstraints(max_length=200, pattern=r"^(traits|features)(\.[^.{}()\[\]<>`\\$;\x00-\x1f]+){1,4}$"),
]
_EventPath = Annotated[
    str,
    StringConstraints(
        max_length=200, pattern=r"^(properties|context|traits)(\.[^.{}()\[\]<>`\\$;\x00-\x1f]+){1,4}$"
    ),
]
_Scalar = Annotated[str, StringConstraints(max_length=500)] | int | float | bool | None
_Value = _Scalar | Annotated[list[_Scalar], Field(max_length=200)]
_Strict = ConfigDict(extra="forbid", frozen=True)


class Comparison(BaseModel):
    """Exactly one operator and its operand."""

    model_config = _Strict
    eq: _Value = None
    ne: _Value = None
    gt: float | str | None = None
    gte: float | str | None = None
    lt: float | str | None = None
    lte: float | str | None = None
    in_: Annotated[list[_Scalar], Field(max_length=200)] | None = Field(None, alias="in")
    not_in: Annotated[list[_Scalar], Field(max_length=200)] | None = None
    exists: bool | None = None
    contains: _Scalar = None

    def operator(self) -> tuple[str, Any]:
        name = next(n for n in self.model_fields_set if n != "field")
        return ("in" if name == "in_" else name), getattr(self, name)


def _check_one(model: BaseModel, keep: frozenset[str]) -> None:
    given = [name for name in model.model_fields_set if name not in keep]
    if len(given) != 1:
        raise ValueError(f"exactly one operator of {', '.join(OPERATORS)} is needed, got {len(given)}")


class FieldTest(Comparison):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    field: _ProfilePath

    def model_post_init(self, _context: Any) -> None:
        _check_one(self, frozenset({"field"}))


class CountSpec(BaseModel):
    model_config = _Strict
    event: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    type: Literal["track", "page", "screen", "identify"] | None = None
    where: Annotated[dict[_EventPath, Comparison], Field(max_length=20)] = Field(default_factory=dict)
    within_days: Annotated[int, Field(ge=1, le=MAX_WINDOW_DAYS)] | None = None

    def model_post_init(self, _context: Any) -> None:
        for test in self.where.values():
            _check_one(test, frozenset())


class Count(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    count: CountSpec
    eq: int | None = None
    ne: int | None = None
    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None

    def model_post_init(self, _context: Any) -> None:
        _check_one(self, frozenset({"count"}))

    def operator(self) -> tuple[str, int]:
        name = next(n for n in self.model_fields_set if n != "count")
        value: int = getattr(self, name)
        return name, value


class Consent(BaseModel):
    model_config = _Strict
    consent: _Name


class Member(BaseModel):
    model_config = _Strict
    segment: _Name


class And(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    all_: Annotated[list[Condition], Field(min_length=1, max_length=50)] = Field(alias="and")


class Or(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    any_: Annotated[list[Condition], Field(min_length=1, max_length=50)] = Field(alias="or")


class Not(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    not_: Condition = Field(alias="not")


_TAGS = ("and", "or", "not", "count", "consent", "segment", "field")


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {And: "and", Or: "or", Not: "not", Count: "count", Consent: "consent", Member: "segment"}.get(
            type(value), "field"
        )
    if not isinstance(value, dict):
        return None
    found = [tag for tag in _TAGS if tag in value]
    return found[0] if len(found) == 1 else None


Condition = Annotated[
    Annotated[And, Tag("and")]
    | Annotated[Or, Tag("or")]
    | Annotated[Not, Tag("not")]
    | Annotated[Count, Tag("count")]
    | Annotated[Consent, Tag("consent")]
    | Annotated[Member, Tag("segment")]
    | Annotated[FieldTest, Tag("field")],
    Discriminator(
        _kind,
        custom_error_type="segments.unknown_node",
        custom_error_message="a condition is an object with exactly one of the keys "
        "and, or, not, count, consent, segment, field",
    ),
]

And.model_rebuild()
Or.model_rebuild()
Not.model_rebuild()


class _Root(BaseModel):
    model_config = _Strict
    condition: Condition


def _measure(value: Any, depth: int = 0) -> tuple[int, int]:
    """Depth and node count of the raw tree, before parsing (bounds the parser's work)."""
    if depth > MAX_DEPTH * 3:
        return depth, 1
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return depth, 1
    deepest, nodes = depth, 1
    for item in items:
        d, n = _measure(item, depth + 1)
        deepest, nodes = max(deepest, d), nodes + n
        if nodes > MAX_NODES * 10:
            break
    return deepest, nodes


def _path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc[1:]:  # drop the root
        text = str(part)
        if not parts or parts[-1] != text:  # a tag, then the same key in the node
            parts.append(text)
    return ".".join(parts)


def _message(error: Any) -> str:
    if error["type"] == "string_pattern_mismatch":
        return "not a valid path (a root such as traits or features, then up to 4 dotted names)"
    return str(error["msg"])


def parse_condition(raw: Any, *, where: str = "condition") -> Condition:
    """The typed tree of a raw condition, or :class:`InvalidCondition` naming each bad node."""
    depth, nodes = _measure(raw)
    if depth > MAX_DEPTH * 3 or nodes > MAX_NODES * 10:
        raise ConditionTooLarge(
            f"{where} is too large: at most {MAX_DEPTH} levels and {MAX_NODES} conditions",
            max_depth=MAX_DEPTH,
            max_nodes=MAX_NODES,
        )
    try:
        parsed = _Root.model_validate({"condition": raw}).condition
    except ValidationError as error:
        problems = [
            {"path": ".".join(filter(None, (where, _path(tuple(e["loc"]))))), "message": _message(e)}
            for e in error.errors(include_url=False, include_input=False)
        ][:20]
        first = problems[0]
        raise InvalidCondition(f"{first['path']}: {first['message']}", problems=problems) from None
    levels, count = _shape(parsed)
    if levels > MAX_DEPTH or count > MAX_NODES:
        raise ConditionTooLarge(
            f"{where} is too large: {levels} levels and {count} conditions "
            f"(at most {MAX_DEPTH} and {MAX_NODES})",
            max_depth=MAX_DEPTH,
            max_nodes=MAX_NODES,
        )
    return parsed


def _children(node: Condition) -> list[Condition]:
    if isinstance(node, And):
        return list(node.all_)
    if isinstance(node, Or):
        return list(node.any_)
    if isinstance(node, Not):
        return [node.not_]
    return []


def _shape(node: Condition) -> tuple[int, int]:
    kids = [_shape(child) for child in _children(node)]
    return 1 + max((d for d, _ in kids), default=0), 1 + sum(n for _, n in kids)


def walk(node: Condition) -> list[Condition]:
    out = [node]
    for child in _children(node):
        out.extend(walk(child))
    return out


def referenced_segments(node: Condition) -> set[str]:
    return {n.segment for n in walk(node) if isinstance(n, Member)}


def windows(node: Condition) -> list[CountSpec]:
    """The event counts a condition needs."""
    return [n.count for n in walk(node) if isinstance(n, Count)]


def paths_read(node: Condition) -> set[str]:
    """Every profile path (``traits.*``, ``features.*``) and event path (``properties.*``,
    ``context.*``, ``traits.*`` of a counted event) a condition reads."""
    out: set[str] = set()
    for n in walk(node):
        if isinstance(n, FieldTest):
            out.add(n.field)
        elif isinstance(n, Count):
            out.update(n.count.where)
    return out
