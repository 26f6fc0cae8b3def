"""Versioned model artifacts in the data directory, and the ``current`` pointer.

::

    <data_dir>/models/recommendations/
      current                      the served version's name (replaced atomically)
      20250101T120000123Z/         one version, never modified once renamed into place
        manifest.json              version, time, counts, training seconds, parameters, id maps
        model.npz  model.json      the Hybrid (ADR 0006: arrays + JSON, no pickle)
        together.npz together.json "bought together" co-occurrence (purchases)

A version is written into a hidden temporary folder and renamed into place, then
``current`` is rewritten through a temporary file and ``os.replace``: a reader sees
either the old version or the new one, complete. Older versions beyond ``keep`` are
deleted (never the current one).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .algorithms import Hybrid, ItemCooccurrence
from .errors import InvalidModelFile

__all__ = [
    "MANIFEST_FORMAT",
    "Artifact",
    "current_version",
    "erased_at",
    "load_artifact",
    "models_dir",
    "new_version",
    "note_erasure",
    "point_current",
    "prune",
    "versions",
    "write_manifest",
    "write_version",
]

MANIFEST_FORMAT = "surmesure.recommendations/1"
_TMP = ".tmp-"
_ERASED = "erased-at"  # the time of the latest erasure (privacy), a file beside the versions


def models_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models" / "recommendations"


def new_version(now: datetime) -> str:
    """A sortable version name: the UTC time to the millisecond."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3] + "Z"


def versions(root: Path) -> list[str]:
    """Complete versions, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def write_version(root: Path, version: str, write: Callable[[Path, str], None]) -> Path:
    """Let ``write(folder, name)`` fill a temporary folder, then rename it to
    ``root/name`` (``name`` is ``version``, suffixed if that one exists)."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    n = 0
    while final.exists():  # two trainings in the same millisecond
        n += 1
        final = root / f"{version}-{n}"
    tmp = root / f"{_TMP}{final.name}-{os.getpid()}"
    tmp.mkdir()
    try:
        write(tmp, final.name)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def note_erasure(root: Path, at_ms: int) -> None:
    """Remember that a person was erased at ``at_ms`` (a time, no identifier): a training
    that started reading the store before it may hold the person and must not be served."""
    root.mkdir(parents=True, exist_ok=True)
    latest = max(erased_at(root), int(at_ms))
    tmp = root / f"{_TMP}{_ERASED}-{os.getpid()}"
    tmp.write_text(f"{latest}\n", encoding="utf-8")
    os.replace(tmp, root / _ERASED)


def erased_at(root: Path) -> int:
    """The time of the latest erasure noted (0: none)."""
    try:
        return int((root / _ERASED).read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


def point_current(root: Path, version: str) -> None:
    """Make ``version`` the served one: a temporary file, then ``os.replace``."""
    tmp = root / f"{_TMP}current-{os.getpid()}"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, root / "current")


def current_version(root: Path) -> str | None:
    try:
        name = (root / "current").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def prune(root: Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest versions (the current one always stays)."""
    current = current_version(root)
    names = versions(root)
    doomed = [n for n in names[: max(len(names) - max(keep, 1), 0)] if n != current]
    for name in doomed:
        shutil.rmtree(root / name, ignore_errors=True)
    return doomed


@dataclass(frozen=True)
class Artifact:
    """One loaded version: the models, the column ↔ item id map and the manifest."""

    version: str
    manifest: dict[str, Any]
    model: Hybrid
    together: ItemCooccurrence | None
    item_ids: npt.NDArray[np.str_]
    replenishable: npt.NDArray[np.bool_]


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def load_artifact(root: Path, version: str) -> Artifact:
    """Read a version completely (models, ids); :class:`InvalidModelFile` when broken."""
    folder = root / version
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidModelFile(f"cannot read {folder / 'manifest.json'}: {error}", version=version) from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InvalidModelFile(f"{folder} is not a {MANIFEST_FORMAT} artifact", version=version)
    item_ids = np.asarray(manifest.get("item_ids", []), dtype=str)
    model = Hybrid.load(folder / "model")
    if model.n_items_ != len(item_ids):
        raise InvalidModelFile(
            f"{folder}: the model has {model.n_items_} items, the manifest {len(item_ids)}"
        )
    together = ItemCooccurrence.load(folder / "together") if (folder / "together.json").exists() else None
    replenishable = np.isin(item_ids, np.asarray(manifest.get("replenishable", []), dtype=str))
    return Artifact(version, manifest, model, together, item_ids, replenishable)
