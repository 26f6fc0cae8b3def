"""Configuration as code: segments, placements and experiments from one document.

``apply(document)`` is what both ``surmesure apply FILE.yaml`` and
``PUT /v1/definitions`` run, so the result is the same either way::

    segments:    {id: definition, ...}     # docs/segments.md
    placements:  {id: placement, ...}      # docs/decisions.md
    experiments: {id: experiment, ...}

Everything is validated first, against what is stored plus the document (references
between segments, the segments a placement targets, the placement and variants an
experiment names); nothing is written when anything is wrong. Then each definition is
written; one that did not change keeps its version, so applying twice is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from surmesure.decisions.domain import (
    Placement,
    check_experiment,
    check_feature_reads,
    parse_experiment,
    parse_placement,
)
from surmesure.decisions.service import Decisions
from surmesure.errors import InvalidInput
from surmesure.segments.definitions import (
    check_references,
    definition_conditions,
    evaluation_order,
    load_file,
    parse_definition,
)

__all__ = ["InvalidDocument", "apply", "check_targeting", "read_file"]

_SECTIONS = ("segments", "placements", "experiments")


class InvalidDocument(InvalidInput):
    code = "decisions.invalid_document"


def read_file(path: Path) -> dict[str, Any]:
    """A YAML (or JSON) document, read with ``yaml.safe_load`` only; its segments are
    checked by ``segments.definitions.load_file`` (errors name the file)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidDocument(f"{path}: cannot read definitions: {error}", file=str(path)) from None
    if isinstance(data, Mapping) and data.get("segments"):
        load_file(path)
    return _document(data)


def _document(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidDocument("a document is a mapping with segments, placements and/or experiments")
    extra = sorted(str(k) for k in set(data) - set(_SECTIONS))
    if extra:
        raise InvalidDocument(
            f"unknown section {extra[0]!r}; expected {', '.join(_SECTIONS)}", section=extra[0]
        )
    out: dict[str, Any] = {}
    for section in _SECTIONS:
        value = data.get(section) or {}
        if not isinstance(value, Mapping):
            raise InvalidDocument(f"{section} is a mapping of id to definition", section=section)
        out[section] = {str(k): v for k, v in value.items()}
    return out


def check_targeting(decisions: Decisions, placement_id: str, raw: Any) -> None:
    """No variant of the placement targets by a protected attribute (``audit.protected``):
    ``segments.protected_attribute`` otherwise."""
    placement, conditions = parse_placement(placement_id, raw)
    where = {v.id: f"variants.{i}.when" for i, v in enumerate(placement.variants)}
    decisions.segments.refuse_protected(
        [(where[vid], c) for vid, c in conditions.items()], placement=placement_id
    )


def apply(decisions: Decisions, data: Any) -> dict[str, Any]:
    """Validate the whole document, then write it; returns each definition's version."""
    doc = _document(data)
    segments = decisions.segments
    with decisions.engine.connect() as conn:
        known = {sid: d for sid, (d, _) in segments.definitions(conn).items()}
        stored_placements = {pid: p for pid, (p, _, _) in decisions.placements(conn).items()}
    new_segments = {sid: parse_definition(sid, raw) for sid, raw in doc["segments"].items()}
    for sid, definition in new_segments.items():
        segments.refuse_protected(definition_conditions(definition), segment=sid)
    check_references({**known, **new_segments})
    segment_ids = {sid for sid, d in {**known, **new_segments}.items() if d.kind == "segment"}
    placements: dict[str, Placement] = dict(stored_placements)
    for pid, raw in doc["placements"].items():
        placements[pid] = decisions.validate_placement(pid, raw, segment_ids)
        check_targeting(decisions, pid, raw)
    for eid, raw in doc["experiments"].items():
        experiment = parse_experiment(eid, raw)
        check_experiment(eid, experiment, placements.get(experiment.placement))
        check_feature_reads(eid, experiment, {*known, *new_segments}, segments.refuse_protected)
    versions: dict[str, dict[str, int]] = {s: {} for s in _SECTIONS}
    for definition in evaluation_order(new_segments):
        versions["segments"][definition.segment_id] = segments.put(definition.segment_id, definition.raw)[
            "version"
        ]
    for pid, raw in doc["placements"].items():
        versions["placements"][pid] = decisions.put_placement(pid, raw)["version"]
    for eid, raw in doc["experiments"].items():
        versions["experiments"][eid] = decisions.put_experiment(eid, raw)["version"]
    return versions
