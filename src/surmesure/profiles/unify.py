"""Unification: fold committed events into profiles (identity, traits, features, consent).

``Unifier.process(conn, rows)`` is the pipeline's profile step. For each batch it
records the links the events carry, re-resolves the connected part of the identity
graph they touch (:func:`~surmesure.profiles.identity.resolve`), and then, per
resulting group of identifiers:

* same identifiers as before → fold the new events into the summary (the hot path);
* a union of whole previous profiles → combine their summaries (a merge, logged);
* anything else (a split: an undone merge, a link now refused) → rebuild the
  summary from the events, which are attributed through the identifiers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from surmesure.config import Settings
from surmesure.consent.domain import CONTEXT_KEYS, allowed, fold_context
from surmesure.events import service as events_service
from surmesure.ids import new_id
from surmesure.profiles import features, store
from surmesure.profiles.cache import UnifyCache
from surmesure.profiles.identity import ANON, USER, Caps, EventIds, Link, event_identifiers, key_type, resolve
from surmesure.profiles.summary import ProfileState, Step

__all__ = ["Reconciled", "Step", "Unifier"]

log = logging.getLogger(__name__)

_MAX_COMPONENT_KEYS = 20_000


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What a re-resolution did: each group's profile (by its smallest identifier), and
    the profiles rebuilt from the stored events."""

    profile_of_group: dict[str, str]
    rebuilt: set[str]


class _Event(NamedTuple):  # a named tuple: one per event, built faster than a dataclass
    seq: int
    ts_ms: int
    body: dict[str, Any]
    ids: EventIds


class Unifier:
    """The profile step of the pipeline, and the re-resolution an unmerge needs."""

    def __init__(self, settings: Settings) -> None:
        ident = settings.identity
        self.hash_key = ident.hash_key.get_secret_value()
        # paths split once: they are looked up in every event
        self.external = tuple(
            (x.name, tuple(tuple(path.split(".")) for path in x.paths)) for x in ident.external_ids
        )
        caps = {USER: 1, "email": ident.max_emails_per_profile, ANON: ident.max_anonymous_ids_per_profile}
        caps.update({x.name: x.max_per_profile for x in ident.external_ids})
        self.caps = Caps(caps)
        self.half_life_days = ident.affinity_half_life_days
        self.bases = settings.consent.bases()  # recorded with every choice
        self.analytics_default = settings.consent.defaults()["analytics"]  # profiled before a choice
        #: what the pipeline worker remembers between steps; see ``profiles/cache.py``
        self.cache: UnifyCache[ProfileState] = UnifyCache()

    # -- reading events ---------------------------------------------------------------
    def parse(self, rows: Iterable[Any]) -> list[_Event]:
        out: list[_Event] = []
        for row in rows:
            body = orjson.loads(row.body)
            ids = event_identifiers(
                body, ts_ms=row.timestamp_ms, hash_key=self.hash_key, external=self.external
            )
            if ids is not None:
                out.append(_Event(row.seq, row.timestamp_ms, body, ids))
        return out

    # -- the pipeline step ------------------------------------------------------------
    def process(self, conn: sa.Connection, rows: Sequence[Any], now_ms: int, step: Step | None = None) -> int:
        """Fold committed events into profiles.

        Events that bring a link the graph has not seen (or an earlier sighting of
        one) re-resolve the part of the graph they touch (:meth:`reconcile`). The
        others cannot change anyone's identity: each goes to the profile of its
        primary identifier, or starts a profile of its own when that identifier is
        new and alone, with what :attr:`cache` remembers (``profiles/cache.py``).

        With a ``step``, ``conn`` is only read and the writes wait in ``step`` for
        :meth:`Step.apply` (the pipeline worker applies them under the write lock, after
        checking with :meth:`still_current` that nobody changed profiles meanwhile);
        without one, they are made on ``conn`` before returning.
        """
        cache = self.cache
        cache.sync(conn)  # first: the step applies only if nobody wrote profiles since
        evs = self.parse(rows)
        if not evs:
            return len(rows)
        immediate = step is None
        step = step or Step()
        earliest: dict[tuple[str, str], Link] = {}
        for ev in evs:
            for link in ev.ids.links:
                known = earliest.get(link.pair)
                if known is None or link.order < known.order:
                    earliest[link.pair] = link
        new_links = {p: lk for p, lk in earliest.items() if not cache.knows_link(p, lk.order)}
        if new_links:
            cache.load_links(conn, new_links)
            new_links = {p: lk for p, lk in new_links.items() if not cache.knows_link(p, lk.order)}
        cache.load_keys(conn, {k for ev in evs for k in ev.ids.keys})
        # an event naming several identifiers, one of which has no profile, can only
        # bring a link the store lacks; should the store say otherwise, re-resolve
        for ev in evs:
            if len(ev.ids.keys) > 1 and any(k not in cache.pid_of for k in ev.ids.keys):
                new_links.update((lk.pair, earliest[lk.pair]) for lk in ev.ids.links)
        if new_links:
            slow = [ev for ev in evs if any(lk.pair in new_links for lk in ev.ids.links)]
            touched = {k for pair in new_links for k in pair} | {k for ev in slow for k in ev.ids.keys}
            fresh = list(new_links.values())
            step.write(lambda c: store.upsert_links(c, fresh))
            through = max(ev.seq for ev in evs)
            rebuilt = self.reconcile(
                conn, touched, slow, now_ms, through_seq=through, step=step, new_links=fresh
            ).rebuilt
            for pair, lk in new_links.items():
                cache.learn_link(pair, lk.order)
            slow_seqs = {ev.seq for ev in slow}
            # a profile rebuilt from the store already holds every event up to ``through``
            evs = [
                ev
                for ev in evs
                if ev.seq not in slow_seqs and cache.pid_of.get(ev.ids.primary) not in rebuilt
            ]
        self._fold_known(conn, evs, now_ms, step)
        step.save_profiles(now_ms)
        if immediate:
            step.apply(conn)
        cache.trim()
        return len(rows)

    def still_current(self, conn: sa.Connection) -> bool:
        """Inside the transaction that applies a step: nobody changed profiles since the
        step read them (on PostgreSQL this also locks out such changes until commit)."""
        return store.generation(conn, lock=True) == self.cache.generation

    def _fold_known(self, conn: sa.Connection, evs: Sequence[_Event], now_ms: int, step: Step) -> None:
        """Events whose identity is settled: fold each into its profile, or a new one."""
        cache = self.cache
        by_pid: dict[str, list[_Event]] = {}
        newcomers: dict[str, list[_Event]] = {}
        for ev in evs:
            pid = cache.pid_of.get(ev.ids.primary)
            if pid is None:
                newcomers.setdefault(ev.ids.primary, []).append(ev)
            else:
                by_pid.setdefault(pid, []).append(ev)
        cache.load_profiles(conn, by_pid, ProfileState.from_row)
        for pid, group in by_pid.items():
            profile = cache.profiles[pid]
            self._fold(profile, sorted(group, key=lambda e: e.seq))
            step.dirty[pid] = profile
        id_rows: list[dict[str, Any]] = []
        for key, group in newcomers.items():
            profile = ProfileState(new_id(), min(ev.ts_ms for ev in group))
            self._fold(profile, sorted(group, key=lambda e: e.seq))
            step.dirty[profile.profile_id] = profile
            id_rows.append(
                {"key": key, "id_type": key_type(key), "profile_id": profile.profile_id, "first_ms": now_ms}
            )
            cache.pid_of[key] = profile.profile_id
            cache.profiles[profile.profile_id] = profile
        if id_rows:
            step.write(lambda c: store.upsert_identifiers(c, id_rows))

    def reconcile(
        self,
        conn: sa.Connection,
        touched: set[str],
        evs: Sequence[_Event] = (),
        now_ms: int = 0,
        *,
        hints: Mapping[str, set[str]] | None = None,
        cause: dict[str, Any] | None = None,
        through_seq: int | None = None,
        step: Step | None = None,
        new_links: Sequence[Link] = (),
    ) -> Reconciled:
        """Re-resolve the graph around ``touched`` and bring profiles in line with it.

        A profile that loses identifiers is rebuilt from the stored events up to
        ``through_seq`` (all of them when None); later events are folded as they come.
        With a ``step`` (the pipeline worker) the writes wait in it, ``new_links`` are
        links it will write first, and the cache is kept in line; without one the
        writes are made on ``conn`` and the cache is not used.
        """
        immediate = step is None
        step = step or Step()
        keys, links, accepted = self._component(conn, touched, new_links)
        resolution = resolve(keys, links, self.caps, store.separations_touching(conn, keys))
        current = store.profile_of_keys(conn, keys)
        old_pids = set(current.values())
        old_keys: dict[str, set[str]] = {p: set() for p in old_pids}
        for key, pid in current.items():
            old_keys[pid].add(key)
        assignment = self._assign(resolution.groups, current, hints or {})
        for i, group in enumerate(resolution.groups):
            # a person identified for the first time gets a profile of their own, which
            # absorbs the anonymous history: the merge is logged and can be undone
            newly_known = any(key_type(k) == USER and k not in current for k in group)
            before = {current[k] for k in group if k in current}
            anonymous_sources = not any(key_type(k) == USER for p in before for k in old_keys[p])
            hinted = bool(hints) and assignment[i] in (hints or {})
            if newly_known and before and anonymous_sources and not hinted:
                assignment[i] = new_id()
        if immediate:
            loaded = {
                pid: ProfileState.from_row(row) for pid, row in store.load_profiles(conn, old_pids).items()
            }
        else:
            self.cache.load_profiles(conn, old_pids, ProfileState.from_row)
            loaded = {pid: self.cache.profiles[pid] for pid in old_pids if pid in self.cache.profiles}

        by_primary: dict[str, list[_Event]] = {}
        for ev in evs:
            by_primary.setdefault(ev.ids.primary, []).append(ev)
        # a profile is split when its identifiers now fall in more than one group; one
        # lookup per identifier (comparing each profile with every group is quadratic)
        group_of = resolution.group_of()
        spans = {pid: {group_of[k] for k in members if k in group_of} for pid, members in old_keys.items()}
        split_pids = {pid for pid, groups in spans.items() if len(groups) > 1}
        id_rows: list[dict[str, Any]] = []
        merge_log: list[dict[str, Any]] = []
        placed: dict[str, str] = {}
        rebuilt: set[str] = set()
        for group, pid in zip(resolution.groups, assignment, strict=True):
            sources = sorted({current[k] for k in group if k in current})
            group_events = [ev for key in group for ev in by_primary.get(key, ())]
            unchanged = sources == [pid] and old_keys[pid] == group
            if unchanged and not group_events:
                continue
            if any(p in split_pids for p in sources):
                profile = self._rebuild(conn, pid, group, loaded.get(pid), now_ms, through_seq)
                rebuilt.add(pid)
            else:
                profile = loaded.get(pid) or ProfileState(
                    pid, min((ev.ts_ms for ev in group_events), default=now_ms)
                )
                for other in sources:
                    if other != pid:
                        profile.absorb(loaded[other])
                self._fold(profile, sorted(group_events, key=lambda e: e.seq))
            if pid not in split_pids:
                for other in sources:
                    if other != pid and other not in split_pids:
                        merge_log.append(self._log(pid, other, group, old_keys, now_ms, group_events, cause))
            for other in sources:
                placed.setdefault(other, pid)
            step.dirty[pid] = profile
            for key in group:
                if current.get(key) != pid:
                    id_rows.append(
                        {"key": key, "id_type": key_type(key), "profile_id": pid, "first_ms": now_ms}
                    )
        for pid in split_pids:
            for group, new_pid in zip(resolution.groups, assignment, strict=True):
                if new_pid != pid and old_keys[pid] & group:
                    merge_log.append(
                        {
                            "merge_id": new_id(),
                            "kind": "split",
                            "kept_profile": pid,
                            "other_profile": new_pid,
                            "at_ms": now_ms,
                            "cause": cause or {"reason": "identity constraints"},
                            "kept_keys": sorted(old_keys[pid] - group),
                            "other_keys": sorted(group & old_keys[pid]),
                        }
                    )
        absorbed = {p: placed[p] for p in old_pids if p not in assignment and p in placed}
        refused = resolution.refused
        now_refused = [p for p in refused if accepted.get(p, True)]
        now_accepted = [p for p, ok in accepted.items() if not ok and p not in refused]

        def write(c: sa.Connection) -> None:
            store.upsert_identifiers(c, id_rows)
            store.mark_merged(c, absorbed, now_ms)
            if merge_log:
                c.execute(store.merges.insert(), merge_log)
            store.set_link_acceptance(c, now_refused, False)
            store.set_link_acceptance(c, now_accepted, True)

        step.write(write)
        if immediate:
            step.save_profiles(now_ms)
            step.apply(conn)
        else:
            # the cache now says what the store will say once the step is applied
            for group, pid in zip(resolution.groups, assignment, strict=True):
                for key in group:
                    self.cache.pid_of[key] = pid
                if pid in step.dirty:
                    self.cache.profiles[pid] = step.dirty[pid]
            for pid in absorbed:
                self.cache.profiles.pop(pid, None)
                step.dirty.pop(pid, None)
        return Reconciled(dict(zip((min(g) for g in resolution.groups), assignment, strict=True)), rebuilt)

    # -- helpers ----------------------------------------------------------------------
    def _component(
        self, conn: sa.Connection, touched: set[str], new_links: Sequence[Link] = ()
    ) -> tuple[set[str], list[Link], dict[tuple[str, str], bool]]:
        """The identifiers connected to ``touched``, their links, and which were accepted.

        ``new_links`` are links about to be written (an earlier sighting keeps its order)."""
        pending: dict[str, list[Link]] = {}
        for lk in new_links:
            pending.setdefault(lk.a, []).append(lk)
            pending.setdefault(lk.b, []).append(lk)
        keys = set(touched)
        frontier = set(touched)
        found: dict[tuple[str, str], Link] = {}
        accepted: dict[tuple[str, str], bool] = {}
        while frontier and len(keys) < _MAX_COMPONENT_KEYS:
            nxt: set[str] = set()
            stored = [
                (Link(r.key_a, r.key_b, r.ts_ms, r.message_id), bool(r.accepted))
                for r in store.links_touching(conn, frontier)
            ]
            fresh = [(lk, True) for key in frontier for lk in pending.get(key, ())]
            for link, ok in stored + fresh:
                known = found.get(link.pair)
                if known is not None and known.order <= link.order:
                    continue
                found[link.pair] = link
                accepted.setdefault(link.pair, ok)
                for key in link.pair:
                    if key not in keys:
                        keys.add(key)
                        nxt.add(key)
            frontier = nxt
        if frontier:
            log.warning("identity component larger than %d identifiers was cut", _MAX_COMPONENT_KEYS)
        return keys, list(found.values()), accepted

    @staticmethod
    def _assign(
        groups: Sequence[frozenset[str]], current: Mapping[str, str], hints: Mapping[str, set[str]]
    ) -> list[str]:
        """A profile id per group: keep the id that holds most of the group; else a new one."""
        order = sorted(
            range(len(groups)), key=lambda i: (-sum(k in current for k in groups[i]), min(groups[i]))
        )
        taken: set[str] = set()
        out = [""] * len(groups)
        for i in order:
            group = groups[i]
            votes = Counter(current[k] for k in group if k in current)
            for pid, members in hints.items():
                if members & group:
                    votes[pid] += len(members & group) * 1000
            for pid, _n in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
                if pid not in taken:
                    out[i] = pid
                    break
            else:
                out[i] = new_id()
            taken.add(out[i])
        return out

    def _fold(self, profile: ProfileState, evs: Sequence[_Event]) -> None:
        profiled: list[tuple[int, dict[str, Any]]] = []
        for ev in evs:
            body = ev.body
            profile.last_seq = max(profile.last_seq, ev.seq)
            stamp = [ev.ts_ms, str(body.get("messageId", ""))]
            if body.get("type") == "identify":
                for key, value in _identify_traits(body).items():
                    if key not in profile.trait_times or stamp > profile.trait_times[key]:
                        profile.traits[key] = value
                        profile.trait_times[key] = stamp
            context = body.get("context")
            if isinstance(context, dict) and context.keys() & CONTEXT_KEYS:
                profile.consent = fold_context(profile.consent, context, at_ms=ev.ts_ms, bases=self.bases)
            if allowed(profile.consent, "analytics", self.analytics_default):  # else not profiled
                profiled.append((ev.ts_ms, body))
        features.fold(profile.features, profiled, self.half_life_days)

    def _rebuild(
        self,
        conn: sa.Connection,
        pid: str,
        group: frozenset[str],
        existing: ProfileState | None,
        now_ms: int,
        through_seq: int | None,
    ) -> ProfileState:
        users = [k.split(":", 1)[1] for k in group if key_type(k) == USER]
        anons = [k.split(":", 1)[1] for k in group if key_type(k) == ANON]
        rows = events_service.events_of(conn, users, anons)
        if through_seq is not None:
            rows = [row for row in rows if row.seq <= through_seq]
        evs = self.parse(rows)
        created = min((ev.ts_ms for ev in evs), default=existing.created_ms if existing else now_ms)
        profile = ProfileState(pid, created)
        self._fold(profile, evs)
        return profile

    @staticmethod
    def _log(
        kept: str,
        other: str,
        group: frozenset[str],
        old_keys: Mapping[str, set[str]],
        now_ms: int,
        evs: Sequence[_Event],
        cause: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A merge entry; undoing it keeps ``other_keys`` apart from ``kept_keys``."""
        message_ids = sorted({str(ev.body.get("messageId")) for ev in evs if ev.ids.links})[:5]
        absorbed = old_keys.get(other, set())
        return {
            "merge_id": new_id(),
            "kind": "merge",
            "kept_profile": kept,
            "other_profile": other,
            "at_ms": now_ms,
            "cause": cause or {"messageIds": message_ids},
            "kept_keys": sorted(group - absorbed),
            "other_keys": sorted(absorbed),
        }


def _identify_traits(body: Mapping[str, Any]) -> dict[str, Any]:
    """Traits of an identify call: top-level (Segment) over ``context.traits`` (RudderStack)."""
    context = body.get("context")
    nested = context.get("traits") if isinstance(context, dict) else None
    top = body.get("traits")
    return {**(nested if isinstance(nested, dict) else {}), **(top if isinstance(top, dict) else {})}
