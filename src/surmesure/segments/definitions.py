"""Definitions: segments, weighted scores and personas, from JSON or a YAML file.

A definition is data::

    kind: segment              # who matches the condition
    condition: {...}

    kind: score                # points of every rule that matches, added up
    rules: [{when: {...}, points: 10}, ...]

    kind: persona              # the first rule that matches names the persona
    personas: [{name: bargain hunter, when: {...}}, ...]
    default: browser

YAML is read with ``yaml.safe_load`` only: tags such as ``!!python/object`` are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from surmesure.errors import InvalidInput
from surmesure.segments.rules import (
    Condition,
    InvalidCondition,
    parse_condition,
    paths_read,
    referenced_segments,
    windows,
)

__all__ = [
    "Definition",
    "InvalidDefinitionFile",
    "ProtectedAttribute",
    "SegmentCycle",
    "UnknownSegment",
    "check_protected",
    "check_references",
    "definition_conditions",
    "evaluation_order",
    "load_file",
    "parse_definition",
]

Kind = Literal["segment", "score", "persona"]
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")
_MAX_RULES = 100


class InvalidDefinitionFile(InvalidInput):
    code = "segments.invalid_file"


class SegmentCycle(InvalidInput):
    code = "segments.cycle"


class UnknownSegment(InvalidInput):
    code = "segments.unknown_segment"


class ProtectedAttribute(InvalidInput):
    """A targeting rule reads an attribute declared for fairness audits only."""

    code = "segments.protected_attribute"


@dataclass(frozen=True)
class Definition:
    """A parsed definition; ``raw`` is what was given (stored as is)."""

    segment_id: str
    kind: Kind
    raw: dict[str, Any]
    condition: Condition | None = None
    rules: tuple[tuple[Condition, float], ...] = ()
    personas: tuple[tuple[str, Condition], ...] = ()
    default: str | None = None

    def conditions(self) -> list[Condition]:
        if self.condition is not None:
            return [self.condition]
        return [c for c, _ in self.rules] + [c for _, c in self.personas]

    def needs(self) -> set[str]:
        """The segments this definition reads."""
        return {s for c in self.conditions() for s in referenced_segments(c)}

    def window_days(self) -> int | None:
        """The longest event window it counts over; 0 when it counts over all events,
        None when it counts no events."""
        specs = [spec for c in self.conditions() for spec in windows(c)]
        if not specs:
            return None
        if any(spec.within_days is None for spec in specs):
            return 0
        return max(spec.within_days or 0 for spec in specs)


def _bad(path: str, message: str) -> InvalidCondition:
    return InvalidCondition(f"{path}: {message}", problems=[{"path": path, "message": message}])


def check_id(segment_id: str) -> str:
    if not (1 <= len(segment_id) <= 64) or not set(segment_id) <= _ID_CHARS:
        raise _bad("id", "an id is 1 to 64 of a-z, 0-9, _ and -")
    return segment_id


def _label(value: Any, path: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 100:
        raise _bad(path, "a name is a string of 1 to 100 characters")
    return value


def parse_definition(segment_id: str, raw: Any) -> Definition:
    """Validate a definition; errors name the path of the bad node."""
    check_id(segment_id)
    if not isinstance(raw, Mapping):
        raise _bad("$", "a definition is an object with a kind")
    raw = dict(raw)
    kind = raw.get("kind", "segment")
    allowed = {
        "segment": {"kind", "name", "description", "condition"},
        "score": {"kind", "name", "description", "rules"},
        "persona": {"kind", "name", "description", "personas", "default"},
    }
    if kind not in allowed:
        raise _bad("kind", "kind is one of segment, score, persona")
    extra = sorted(set(raw) - allowed[kind])
    if extra:
        raise _bad(extra[0], f"unknown key for a {kind}; expected {', '.join(sorted(allowed[kind]))}")
    for key in ("name", "description"):
        if key in raw and (not isinstance(raw[key], str) or len(raw[key]) > 500):
            raise _bad(key, "a string of at most 500 characters")
    if kind == "segment":
        if "condition" not in raw:
            raise _bad("condition", "a segment needs a condition")
        return Definition(segment_id, "segment", raw, condition=parse_condition(raw["condition"]))
    key = "rules" if kind == "score" else "personas"
    items = raw.get(key)
    if not isinstance(items, list) or not 1 <= len(items) <= _MAX_RULES:
        raise _bad(key, f"a list of 1 to {_MAX_RULES} rules")
    rules: list[tuple[Condition, float]] = []
    personas: list[tuple[str, Condition]] = []
    for i, item in enumerate(items):
        where = f"{key}.{i}"
        expected = {"when", "points"} if kind == "score" else {"when", "name"}
        if not isinstance(item, Mapping) or set(item) != expected:
            raise _bad(where, f"a rule is an object with exactly {' and '.join(sorted(expected))}")
        condition = parse_condition(item["when"], where=f"{where}.when")
        if kind == "score":
            points = item["points"]
            if isinstance(points, bool) or not isinstance(points, int | float) or abs(points) > 1e9:
                raise _bad(f"{where}.points", "points are a number")
            rules.append((condition, float(points)))
        else:
            personas.append((_label(item["name"], f"{where}.name"), condition))
    default = raw.get("default")
    if default is not None:
        default = _label(default, "default")
    return Definition(segment_id, kind, raw, rules=tuple(rules), personas=tuple(personas), default=default)


def check_references(definitions: Mapping[str, Definition]) -> None:
    """Every segment named exists and is a segment; no definition depends on itself."""
    for sid, definition in definitions.items():
        for needed in sorted(definition.needs()):
            other = definitions.get(needed)
            if other is None or other.kind != "segment":
                raise UnknownSegment(
                    f"{sid} refers to segment {needed!r}, which is not defined", segment=sid, refers_to=needed
                )
    evaluation_order(definitions)


def _protects(path: str, attribute: str) -> bool:
    """``traits.gender`` protects ``traits.gender``, ``traits.gender.x`` and, in a counted
    event, ``context.traits.gender``."""
    for candidate in (path, path.removeprefix("context.")):
        if candidate == attribute or candidate.startswith(attribute + "."):
            return True
    return False


def check_protected(
    conditions: Iterable[tuple[str, Condition]], protected: Iterable[str], **details: Any
) -> None:
    """Refuse a condition (given with where it is) that reads a protected attribute."""
    attributes = sorted(set(protected))
    if not attributes:
        return
    for where, condition in conditions:
        for path in sorted(paths_read(condition)):
            found = next((a for a in attributes if _protects(path, a)), None)
            if found is not None:
                raise ProtectedAttribute(
                    f"{where} reads {path}, a protected attribute: it is audited for fairness "
                    "and may not be used for targeting",
                    attribute=found,
                    path=path,
                    problems=[{"path": where, "message": f"reads protected attribute {found}"}],
                    **details,
                )


def definition_conditions(definition: Definition) -> list[tuple[str, Condition]]:
    """A definition's conditions, each with where it is in the definition."""
    if definition.condition is not None:
        return [("condition", definition.condition)]
    key = "rules" if definition.kind == "score" else "personas"
    conditions = [c for c, _ in definition.rules] + [c for _, c in definition.personas]
    return [(f"{key}.{i}.when", c) for i, c in enumerate(conditions)]


def evaluation_order(definitions: Mapping[str, Definition]) -> list[Definition]:
    """Definitions with every segment a definition reads before it; a cycle is refused."""
    order: list[Definition] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(sid: str, trail: list[str]) -> None:
        if state.get(sid) == 2 or sid not in definitions:
            return
        if state.get(sid) == 1:
            cycle = [*trail[trail.index(sid) :], sid]
            raise SegmentCycle(f"segments refer to each other: {' -> '.join(cycle)}", cycle=cycle)
        state[sid] = 1
        for needed in sorted(definitions[sid].needs()):
            visit(needed, [*trail, sid])
        state[sid] = 2
        order.append(definitions[sid])

    for sid in sorted(definitions):
        visit(sid, [])
    return order


def load_file(path: Path) -> dict[str, Definition]:
    """Definitions from a YAML (or JSON) file: ``segments: {id: definition, ...}``."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidDefinitionFile(
            f"{path}: cannot read segment definitions: {error}", file=str(path)
        ) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("segments"), Mapping):
        raise InvalidDefinitionFile(f"{path}: expected a mapping with a 'segments' mapping", file=str(path))
    out: dict[str, Definition] = {}
    for sid, raw in data["segments"].items():
        try:
            out[str(sid)] = parse_definition(str(sid), raw)
        except InvalidInput as error:
            error.details["segment"] = str(sid)
            error.message = f"{path}: segment {sid}: {error.message}"
            error.args = (error.message,)
            raise
    check_references(out)
    return out
