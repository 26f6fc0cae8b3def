"""The tombstones at collection: events that name an erased person are refused.

:class:`Tombstones` keeps the keyed hashes of erased identifiers in memory (a set) and
reads new ones from the store every ``privacy.tombstone_refresh_ms`` (erasures made by
another process: the CLI, another server); an erasure in this process adds its hashes
at once. :meth:`Tombstones.screen` is the collection hook (``events.service.Ingestor``):
for a normalized row it returns the hashes of the erased identifiers it carries — its
user id, anonymous id, alias ``previousId``, email, external ids — computed as
``profiles.identity`` reads them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa

from surmesure.config import Settings
from surmesure.privacy import store
from surmesure.privacy.domain import tombstone_hash
from surmesure.profiles.identity import event_identifiers

__all__ = ["Tombstones"]

log = logging.getLogger(__name__)


class Tombstones:
    def __init__(self, engine: sa.Engine, settings: Settings) -> None:
        self.engine = engine
        self._key = settings.identity.hash_key.get_secret_value()
        self._external = tuple(
            (x.name, tuple(tuple(p.split(".")) for p in x.paths)) for x in settings.identity.external_ids
        )
        self._every_s = settings.privacy.tombstone_refresh_ms / 1000
        self._hashes: frozenset[str] = frozenset()
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hash = lru_cache(maxsize=65_536)(lambda key: tombstone_hash(self._key, key))
        # an event whose body holds none of these names carries no identifier but its
        # user id and anonymous id (read from the row): its body is not parsed
        self._markers = (
            '"email"',
            '"previousId"',
            *{m for x in settings.identity.external_ids for m in _markers(x.paths)},
        )

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="surmesure-tombstones", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self.refresh()
            except Exception:
                log.warning("privacy: could not read the tombstones", exc_info=True)

    def refresh(self) -> bool:
        """Read the tombstones again if they changed; True when they did."""
        with self.engine.connect() as conn:
            stamp = store.tombstone_stamp(conn)
            if stamp == self._stamp:
                return False
            hashes = store.tombstone_hashes(conn)
        with self._lock:
            self._hashes = frozenset(hashes) | self._hashes
            self._stamp = stamp
        return True

    def add(self, hashes: Iterable[str]) -> None:
        with self._lock:
            self._hashes = self._hashes | frozenset(hashes)

    def __len__(self) -> int:
        return len(self._hashes)

    # -- the collection hook -----------------------------------------------------------
    def screen(self, row: dict[str, Any]) -> list[str]:
        """The hashes of the erased identifiers a normalized event row carries."""
        if self._stamp is None:  # not started (a command): read them once
            self.refresh()
        hashes = self._hashes
        if not hashes:
            return []
        found: list[str] = []
        user, anonymous = row["user_id"], row["anonymous_id"]
        if user and (h := self._hash("user_id:" + user)) in hashes:
            found.append(h)
        if anonymous and (h := self._hash("anonymous_id:" + anonymous)) in hashes:
            found.append(h)
        body = row["body"]
        for marker in self._markers:
            if marker in body:
                break
        else:  # nothing else that names a person: the body is not parsed
            return found
        ids = event_identifiers(orjson.loads(body), ts_ms=0, hash_key=self._key, external=self._external)
        if ids is not None:
            found.extend(h for h in map(self._hash, ids.keys) if h in hashes and h not in found)
        return found


def _markers(paths: Iterable[str]) -> list[str]:
    """Names the body holds when one of ``paths`` is present (``"crm_id"`` for
    ``traits.crm_id``, ``"device"`` for ``context.device.id``): the last part of each
    path that is not a generic ``id``, quoted as a JSON key."""
    names = []
    for path in paths:
        parts = [p for p in path.split(".") if p != "id"] or ["id"]
        names.append(f'"{parts[-1]}"')
    return names
