"""``surmesure privacy verify-erasure``: plant a canary person through the ingestion
path, wait for its profile, erase it, replay its events, then scan every table (every
text column) and every file the platform writes (the data directory: models, exports,
logs; the SQLite database and its WAL) for the canary's strings.

The canary's identifiers, email, traits and properties all carry one random token, so
one needle finds any of them; its email is also looked for as the keyed hash the
identity graph keeps. The check passes when nothing is found within the time allowed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from surmesure import db
from surmesure.deps import Services
from surmesure.ids import keyed_hash, new_id

__all__ = ["canary_events", "scan_files", "scan_tables", "verify_erasure"]

_SOURCE = "privacy.verify"
_CHUNK = 1 << 20


def canary_events(token: str, now: datetime) -> list[dict[str, Any]]:
    """A small life: an identify with traits and consent, a page, a track, an alias."""
    user, anon = f"canary-user-{token}", f"canary-anon-{token}"
    stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    context = {
        "device": {"id": f"canary-device-{token}"},
        "consent": {"categoryPreferences": {"analytics": True, "personalization": True, "marketing": True}},
    }
    return [
        {
            "type": "identify", "messageId": new_id(), "timestamp": stamp,
            "userId": user, "anonymousId": anon,
            "traits": {"email": f"canary-{token}@example.invalid", "name": f"Canary {token}",
                       "crm_id": f"canary-crm-{token}"},
            "context": context,
        },
        {"type": "page", "messageId": new_id(), "timestamp": stamp, "anonymousId": anon, "name": "Home",
         "properties": {"title": f"canary page {token}"}, "context": context},
        {"type": "track", "messageId": new_id(), "timestamp": stamp, "userId": user,
         "event": "Canary Checked", "properties": {"note": f"canary note {token}"}},
        {"type": "alias", "messageId": new_id(), "timestamp": stamp, "userId": user,
         "previousId": f"canary-previous-{token}"},
    ]  # fmt: skip


def _refused(token: str) -> dict[str, Any]:
    """An event the collection refuses (a track with no name) that names the canary."""
    return {"type": "track", "messageId": new_id(), "userId": f"canary-user-{token}"}


def scan_tables(engine: sa.Engine, needles: Iterable[str]) -> dict[str, int]:
    """``table.column`` → rows whose text holds one of ``needles`` (every table of the
    store, read from the database itself, every string column)."""
    wanted = [n.lower() for n in needles]
    found: dict[str, int] = {}
    reflected = sa.MetaData()
    with engine.connect() as conn:
        reflected.reflect(conn)
        for table in reflected.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, sa.String | sa.Text):
                    continue
                text = sa.func.lower(column)
                condition = sa.or_(*(text.contains(n, autoescape=True) for n in wanted))
                count = conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(condition)
                ).scalar_one()
                if count:
                    found[f"{table.name}.{column.name}"] = int(count)
    return found


def _files(roots: Iterable[Path]) -> list[Path]:
    out: set[Path] = set()
    for root in roots:
        if root.is_file():
            out.add(root.resolve())
        elif root.is_dir():
            for folder, _dirs, names in os.walk(root):
                out.update((Path(folder) / n).resolve() for n in names)
    return sorted(p for p in out if p.is_file())


def scan_files(roots: Iterable[Path], needles: Iterable[str]) -> dict[str, int]:
    """Path → occurrences of ``needles`` (bytes, case-insensitive) in every file under
    ``roots`` (read in chunks that overlap by the longest needle)."""
    wanted = [n.lower().encode() for n in needles]
    overlap = max((len(n) for n in wanted), default=1) - 1
    found: dict[str, int] = {}
    for path in _files(roots):
        count = 0
        tail = b""
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    window = (tail + chunk).lower()
                    for needle in wanted:
                        # occurrences starting in the new part only (the tail was counted)
                        start = 0
                        while (at := window.find(needle, start)) != -1:
                            if at + len(needle) > len(tail):
                                count += 1
                            start = at + 1
                    tail = window[-overlap:] if overlap else b""
        except OSError:
            continue
        if count:
            found[str(path)] = count
    return found


def _store_files(engine: sa.Engine) -> list[Path]:
    path = db.sqlite_path(engine)
    if path is None:
        return []
    return [Path(path + suffix) for suffix in ("", "-wal", "-journal")]


def _wait(condition: Any, deadline: float, what: str) -> None:
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"verify-erasure: {what} within the time allowed")
        time.sleep(0.05)


def verify_erasure(services: Services, *, timeout_s: float = 60.0) -> dict[str, Any]:
    """Run the check on a platform wired by the composition (the writer and the pipeline
    are started here); the report says ``ok`` and where anything was found."""
    started = time.monotonic()
    deadline = started + timeout_s
    caps = services.capabilities
    settings = services.settings
    token = "canary" + new_id()[:20]
    email = f"canary-{token}@example.invalid"
    needles = [token, keyed_hash(settings.identity.hash_key.get_secret_value(), email)]
    report: dict[str, Any] = {"canary": token, "ok": False}
    caps["writer"].start()
    caps["pipeline"].start()
    try:
        events = canary_events(token, services.clock.now())
        planted = caps["ingestor"].ingest_sync([*events, _refused(token)], source=_SOURCE)
        report["planted"] = {"accepted": planted.accepted, "quarantined": planted.quarantined}
        user = f"canary-user-{token}"
        _wait(lambda: _profiled(caps["profiles"], user, token), deadline, "the canary was not profiled")
        report["profiled_after_s"] = round(time.monotonic() - started, 3)
        report["decided"] = _decide(caps.get("decisions"), user)
        report["recommended"] = _recommend(caps.get("recommendations"), user)
        erasure, _person = caps["privacy"].erase_person(user, "user_id", retrain="now")
        report["erasure"] = erasure
        replay = caps["ingestor"].ingest_sync(canary_events(token, services.clock.now()), source=_SOURCE)
        report["replay"] = {"received": replay.received, "accepted": replay.accepted,
                            "quarantined": replay.quarantined,
                            "codes": sorted({e.code for e in replay.errors})}  # fmt: skip
        roots = [Path(settings.data_dir), *_store_files(services.engine)]
        while True:
            tables = scan_tables(services.engine, needles)
            files = scan_files(roots, needles)
            if (not tables and not files) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    except TimeoutError as error:
        report["error"] = str(error)
        return report
    total = sum(tables.values()) + sum(files.values())
    report["occurrences"] = {"tables": tables, "files": files, "total": total}
    report["seconds"] = round(time.monotonic() - started, 3)
    report["ok"] = total == 0 and replay.accepted == 0 and report["seconds"] <= timeout_s
    return report


def _profiled(profiles: Any, user: str, token: str) -> bool:
    view = profiles.get(user, "user_id")
    if view is None:
        return False
    keys = {f"{i['type']}:{i['value']}" for i in view["identifiers"]}
    # the identifiers as the profile holds them: their pseudonyms in pseudonymized mode
    wanted = (f"canary-anon-{token}", f"canary-previous-{token}")
    return all(keys.intersection(profiles.candidate_keys(v, "anonymous_id")) for v in wanted)


def _recommend(recommendations: Any, user: str) -> bool:
    """One answer of recommendations for the canary (the log of answers shown), when a
    model is served."""
    if recommendations is None:
        return False
    from surmesure.recommendations.service import Who
    from surmesure.recommendations.serving import Query

    try:
        recommendations.reload()
        recommendations.recommend(Query(k=5), Who(user, "user_id"))
    except Exception:  # no model yet: nothing to log, not what is checked here
        return False
    return True


def _decide(decisions: Any, user: str) -> int:
    """One decision on every placement for the canary (decisions, exposures, caps)."""
    if decisions is None:
        return 0
    try:
        from surmesure.recommendations.service import Who

        with decisions.engine.connect() as conn:
            placements = sorted(decisions.placements(conn))
        for placement_id in placements:
            decisions.decide(placement_id, Who(user, "user_id"), {})
        return len(placements)
    except Exception:  # a placement that cannot decide (no model...) is not what is checked here
        return 0
