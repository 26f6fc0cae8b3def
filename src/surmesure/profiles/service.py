"""Profiles as the rest of the code sees them: look up by any identifier, read the
unified view and its events, undo a merge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from surmesure import db
from surmesure.clock import Clock, utc_ms
from surmesure.config import Settings
from surmesure.consent.domain import effective_consent
from surmesure.consent.pseudonym import Pseudonymizer
from surmesure.errors import Conflict, NotFound
from surmesure.events import service as events_service
from surmesure.ids import keyed_hash, normalize_email
from surmesure.profiles import features, store
from surmesure.profiles.identity import ANON, USER, key_type
from surmesure.profiles.unify import Unifier

__all__ = ["MergeNotFound", "ProfileNotFound", "ProfileService", "Recent", "Stamp"]

#: (latest seq, number of events, hash of the identifiers) of a person's events: a
#: change of the events or of the identifiers they are read by changes the stamp
Stamp = tuple[int, int, int]

_MAX_HOPS = 32


class ProfileNotFound(NotFound):
    code = "profiles.not_found"


class MergeNotFound(NotFound):
    code = "profiles.merge_not_found"


class MergeAlreadyUndone(Conflict):
    code = "profiles.merge_already_undone"


@dataclass(frozen=True, slots=True)
class Recent:
    """A person's latest events as :meth:`ProfileService.recent` reads them."""

    #: the cache key of the person: their profile id, else ``type:value`` of the identifier
    key: str
    has_profile: bool
    stamp: Stamp
    #: event bodies, newest first; None when the caller said it has this stamp already
    bodies: list[dict[str, Any]] | None
    #: the profile's effective consent per purpose (empty without a profile)
    consent: dict[str, bool] = field(default_factory=dict)
    #: the profile's recorded choices per purpose (``granted``, ``at_ms``, ``source``)
    state: dict[str, Any] = field(default_factory=dict)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else features._iso(ms)


class ProfileService:
    """Read and administer unified profiles."""

    def __init__(self, engine: sa.Engine, settings: Settings, clock: Clock, unifier: Unifier) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.unifier = unifier
        self._types = (USER, ANON, "email", *(x.name for x in settings.identity.external_ids))
        #: pseudonymized mode: the store holds keyed pseudonyms, raw identifiers are hashed to look
        pseudonymizer = Pseudonymizer.from_settings(settings)
        self._pseudonyms = pseudonymizer if pseudonymizer is not None and pseudonymizer.keys else None

    # -- lookup -----------------------------------------------------------------------
    def candidate_keys(self, identifier: str, id_type: str | None = None) -> list[str]:
        """The identifier keys a free-form identifier may stand for, most specific first."""
        ident = identifier.strip()
        if id_type:
            types = [id_type]
        elif ":" in ident and ident.split(":", 1)[0] in self._types:
            id_type, ident = ident.split(":", 1)
            types = [id_type]
        else:
            types = list(self._types)
        keys: list[str] = []
        ps = self._pseudonyms
        for t in types:
            if ps is not None and t != "profile_id":
                keys.extend(f"{t}:{p}" for p in (ps.email_lookups if t == "email" else ps.lookups)(ident))
            elif t == "email":
                email = normalize_email(ident)
                if email:
                    keys.append(f"email:{keyed_hash(self.unifier.hash_key, email)}")
            else:
                keys.append(f"{t}:{ident}")
        return keys

    def resolve_id(self, conn: sa.Connection, identifier: str, id_type: str | None = None) -> str | None:
        """The live profile id for a profile id (even a merged-away one) or any identifier."""
        pid: str | None = None
        if id_type in (None, "profile_id"):
            row = conn.execute(
                sa.select(store.profiles.c.profile_id).where(store.profiles.c.profile_id == identifier)
            ).first()
            pid = row[0] if row else None
        if pid is None and id_type != "profile_id":
            found = store.profile_of_keys(conn, self.candidate_keys(identifier, id_type))
            for key in self.candidate_keys(identifier, id_type):
                if key in found:
                    pid = found[key]
                    break
        for _ in range(_MAX_HOPS):
            if pid is None:
                return None
            nxt = conn.execute(
                sa.select(store.profiles.c.merged_into).where(store.profiles.c.profile_id == pid)
            ).scalar_one_or_none()
            if nxt is None:
                return pid
            pid = nxt
        return pid

    # -- reads ------------------------------------------------------------------------
    def get(self, identifier: str, id_type: str | None = None) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            pid = self.resolve_id(conn, identifier, id_type)
            if pid is None:
                return None
            row = store.load_profiles(conn, [pid]).get(pid)
            if row is None:
                return None
            keys = store.keys_of_profiles(conn, [pid]).get(pid, [])
            merges = (
                conn.execute(
                    sa.select(store.merges)
                    .where(sa.or_(store.merges.c.kept_profile == pid, store.merges.c.other_profile == pid))
                    .order_by(store.merges.c.at_ms.desc())
                    .limit(50)
                )
                .mappings()
                .all()
            )
        return self._view(row, keys, [dict(m) for m in merges])

    def require(self, identifier: str, id_type: str | None = None) -> dict[str, Any]:
        view = self.get(identifier, id_type)
        if view is None:
            raise ProfileNotFound(f"no profile for {identifier!r}", identifier=identifier)
        return view

    def _view(self, row: dict[str, Any], keys: list[str], merges: list[dict[str, Any]]) -> dict[str, Any]:
        now_ms = utc_ms(self.clock.now())
        bases = self.settings.consent.bases()
        allowed = effective_consent(row["consent"], self.settings.consent.defaults())
        consent = {
            purpose: {
                "allowed": allowed[purpose],
                "granted": (row["consent"].get(purpose) or {}).get("granted"),
                "at": _iso((row["consent"].get(purpose) or {}).get("at_ms")),
                "source": (row["consent"].get(purpose) or {}).get("source"),
                "basis": bases.get(purpose, "consent"),
            }
            for purpose in sorted(allowed)
        }
        return {
            "profile_id": row["profile_id"],
            "created_at": _iso(row["created_ms"]),
            "updated_at": _iso(row["updated_ms"]),
            "identifiers": [
                {"type": key_type(k), "value": k.split(":", 1)[1]}
                for k in sorted(keys, key=lambda k: (key_type(k), k))
            ],
            "traits": row["traits"],
            "features": features.read(
                row["features"], now_ms=now_ms, half_life_days=self.settings.identity.affinity_half_life_days
            ),
            "consent": consent,
            "merges": [
                {
                    "merge_id": m["merge_id"],
                    "kind": m["kind"],
                    "kept_profile": m["kept_profile"],
                    "other_profile": m["other_profile"],
                    "at": _iso(m["at_ms"]),
                    "cause": m["cause"],
                    "undone_at": _iso(m["undone_ms"]),
                }
                for m in merges
            ],
        }

    def events(
        self, identifier: str, limit: int = 50, before: int | None = None, id_type: str | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Event bodies attributed to the person, newest first, and the cursor of the next page."""
        with self.engine.connect() as conn:
            pid = self.resolve_id(conn, identifier, id_type)
            if pid is None:
                raise ProfileNotFound(f"no profile for {identifier!r}", identifier=identifier)
            keys = store.keys_of_profiles(conn, [pid]).get(pid, [])
            users = [k.split(":", 1)[1] for k in keys if key_type(k) == USER]
            anons = [k.split(":", 1)[1] for k in keys if key_type(k) == ANON]
            rows = events_service.events_page(conn, users, anons, limit=limit + 1, before_seq=before)
        page = rows[:limit]
        next_before = page[-1].seq if len(rows) > limit else None
        return [{"seq": r.seq, **orjson.loads(r.body)} for r in page], next_before

    def recent(
        self,
        identifier: str,
        *,
        id_type: str | None = None,
        limit: int = 200,
        have: Callable[[str, Stamp], bool] | None = None,
    ) -> Recent:
        """The person's latest ``limit`` events for serving, in one connection: through
        their profile (every user and anonymous id it has) like :meth:`events`, or,
        before the pipeline has made one, the events of the identifier itself (a user
        or anonymous id). The bodies are not read when ``have(key, stamp)`` is true:
        the caller kept them from an earlier call. Driver SQL (no statement to compile):
        about four indexed lookups."""
        with self.engine.connect() as conn:
            found = self._resolve_fast(conn, identifier, id_type)
            if found is not None:
                pid, consent = found
                keys = [str(r[0]) for r in db.fetch(conn, _sql(conn, _KEYS_OF), (pid,))]
                users = [k.split(":", 1)[1] for k in keys if key_type(k) == USER]
                anons = [k.split(":", 1)[1] for k in keys if key_type(k) == ANON]
                key, allowed = pid, effective_consent(consent, self.settings.consent.defaults())
            else:
                values = [identifier] if self._pseudonyms is None else self._pseudonyms.lookups(identifier)
                users = values if id_type in (None, USER) else []
                anons = values if id_type in (None, ANON) else []
                key, allowed, consent = f"{id_type or 'id'}:{identifier}", {}, {}
            latest, count = events_service.latest_stamp(conn, users, anons)
            stamp = (latest, count, hash((tuple(sorted(users)), tuple(sorted(anons)))))
            if have is not None and have(key, stamp):
                return Recent(key, found is not None, stamp, None, allowed, consent)
            found_rows = events_service.latest_bodies(conn, users, anons, limit=limit)
        bodies = [{"seq": seq, **orjson.loads(body)} for seq, body in found_rows]
        return Recent(key, found is not None, stamp, bodies, allowed, consent)

    def _resolve_fast(
        self, conn: sa.Connection, identifier: str, id_type: str | None
    ) -> tuple[str, dict[str, Any]] | None:
        """:meth:`resolve_id` in driver SQL, with the live profile's consent column."""
        row: Sequence[Any] | None = None
        if id_type in (None, "profile_id"):
            row = next(iter(db.fetch(conn, _sql(conn, _PROFILE), (identifier,))), None)
        if row is None and id_type != "profile_id":
            candidates = self.candidate_keys(identifier, id_type)
            if candidates:
                marks = ", ".join(["?"] * len(candidates))
                found = {  # the identifier's profile id even when its row is missing, as resolve_id
                    str(r[0]): (r[1] if r[1] is not None else r[4], *r[2:4])
                    for r in db.fetch(conn, _sql(conn, _BY_KEYS.format(marks=marks)), candidates)
                }
                row = next((found[k] for k in candidates if k in found), None)
        if row is None:
            return None
        pid, nxt, consent = row
        for _ in range(_MAX_HOPS):
            if nxt is None:
                break
            row = next(iter(db.fetch(conn, _sql(conn, _PROFILE), (nxt,))), None)
            if row is None:  # like resolve_id: a profile id without a row is where the hops end
                pid, nxt, consent = nxt, None, None
                break
            pid, nxt, consent = row
        return str(pid), (orjson.loads(consent) if isinstance(consent, str | bytes) else consent or {})

    # -- administration ---------------------------------------------------------------
    def unmerge(self, merge_id: str) -> dict[str, Any]:
        """Undo a merge: the absorbed identifiers are kept apart and their events follow them."""
        now_ms = utc_ms(self.clock.now())
        with db.writing(self.engine) as conn:
            merge = (
                conn.execute(sa.select(store.merges).where(store.merges.c.merge_id == merge_id))
                .mappings()
                .first()
            )
            if merge is None or merge["kind"] != "merge":
                raise MergeNotFound(f"no merge {merge_id!r}", merge_id=merge_id)
            if merge["undone_ms"] is not None:
                raise MergeAlreadyUndone(f"merge {merge_id!r} was already undone", merge_id=merge_id)
            left, right = set(merge["other_keys"]), set(merge["kept_keys"])
            conn.execute(
                store.separations.insert(),
                [{"sep_id": merge_id, "side": "L", "key": k} for k in sorted(left)]
                + [{"sep_id": merge_id, "side": "R", "key": k} for k in sorted(right)],
            )
            conn.execute(
                store.merges.update().where(store.merges.c.merge_id == merge_id).values(undone_ms=now_ms)
            )
            conn.execute(
                store.profiles.update()
                .where(store.profiles.c.profile_id == merge["other_profile"])
                .values(merged_into=None)
            )
            self.unifier.reconcile(
                conn,
                left | right,
                now_ms=now_ms,
                hints={merge["other_profile"]: left, merge["kept_profile"]: right},
                cause={"reason": "unmerge", "merge_id": merge_id},
            )
            store.bump_generation(conn)
        return {
            "merge_id": merge_id,
            "profiles": [merge["kept_profile"], merge["other_profile"]],
            "undone_at": _iso(now_ms),
        }


_PROFILE = "SELECT profile_id, merged_into, consent FROM profiles WHERE profile_id = ?"
_BY_KEYS = (
    "SELECT i.key, p.profile_id, p.merged_into, p.consent, i.profile_id FROM identifiers i "
    "LEFT JOIN profiles p ON p.profile_id = i.profile_id WHERE i.key IN ({marks})"
)
_KEYS_OF = "SELECT key FROM identifiers WHERE profile_id = ?"


def _sql(conn: sa.Connection, statement: str) -> str:
    """``statement`` with the driver's placeholders (written with ``?``)."""
    return statement if conn.dialect.paramstyle == "qmark" else statement.replace("?", "%s")
