"""An erased person's influence on the recommendation model: retrain, then delete every
version trained before the erasure.

A model version holds no person's identifier (its arrays are indexed by item; the
people's rows of a training are not kept with an id), but what it learned from the
person's events — item-item weights, popularity, ALS factors — stays in its arrays. The
honest removal is a new training on the store without them (the events are gone) and
the deletion of the older versions. It is needed only when the current version may
have seen the person: it was trained after their first event arrived. Until it is done
a marker file (``retrain-needed``, holding no identifier) says so; the server retrains
in a process of its own when it sees the marker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from surmesure import db
from surmesure.config import Settings
from surmesure.errors import SurmesureError
from surmesure.recommendations import artifacts
from surmesure.recommendations.training import train

__all__ = ["mark", "needs_retraining", "pending", "retrain", "retrain_in_process", "trained_ms"]

log = logging.getLogger(__name__)
MARKER = "retrain-needed"


def _root(settings: Settings) -> Path:
    return artifacts.models_dir(settings.data_dir)


def trained_ms(settings: Settings) -> int | None:
    """When the current version was trained (None: no model)."""
    root = _root(settings)
    version = artifacts.current_version(root)
    if version is None:
        return None
    try:
        manifest = json.loads((root / version / "manifest.json").read_text(encoding="utf-8"))
        return int(manifest["created_ms"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0  # unreadable: assume it may have seen anyone


def needs_retraining(settings: Settings, first_event_ms: int | None) -> bool:
    """True when the current version may have learned from events that arrived at
    ``first_event_ms`` or later (None: the person had no events)."""
    trained = trained_ms(settings)
    return trained is not None and first_event_ms is not None and first_event_ms <= trained


def mark(settings: Settings, at_ms: int) -> None:
    root = _root(settings)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    previous: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads(marker.read_text(encoding="utf-8"))
    state = {"since_ms": previous.get("since_ms", at_ms), "erasures": int(previous.get("erasures", 0)) + 1}
    tmp = root / f".tmp-{MARKER}-{os.getpid()}"
    tmp.write_text(json.dumps(state) + "\n", encoding="utf-8")
    os.replace(tmp, marker)


def pending(settings: Settings) -> bool:
    return (_root(settings) / MARKER).exists()


def retrain(engine: sa.Engine, settings: Settings) -> str:
    """Train a new version on the store as it is now, make it current, delete every older
    version and the marker. ``"retrained"``, or ``"removed"`` when nothing is left to
    train on (every version is deleted: serving falls back to no model)."""
    root = _root(settings)
    marker = root / MARKER
    with contextlib.suppress(OSError):
        marker.unlink()  # erasures from now on mark again; this training may not see them gone
    try:
        manifest = train(engine, settings)
        keep: str | None = manifest["version"]
        outcome = "retrained"
    except SurmesureError as error:  # nothing to train on any more (NothingToTrain)
        log.warning("privacy: no model could be trained after an erasure: %s", error)
        keep, outcome = None, "removed"
        with contextlib.suppress(OSError):
            (root / "current").unlink()
    except BaseException:
        mark(settings, 0)  # still to do
        raise
    # every version trained before this one may have seen the person; a later one (a
    # scheduled training that ended meanwhile) was trained without them and may be current
    current = artifacts.current_version(root)
    if keep is not None and current is not None and current < keep:
        artifacts.point_current(root, keep)  # an older training ended after this one: not it
        current = keep
    for name in artifacts.versions(root):
        if name != current and (keep is None or name < keep):
            shutil.rmtree(root / name, ignore_errors=True)
    return outcome


def retrain_in_process(settings: Settings) -> None:
    """Entry point of the retraining process the server starts (spawned)."""
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(OSError):
        os.nice(10)
    engine = db.create_engine(
        settings.store_url, sqlite_synchronous=settings.store.sqlite_synchronous, pool_size=2
    )
    try:
        retrain(engine, settings)
    finally:
        engine.dispose()
