"""Retention: the cut-off of each kind of data from ``[retention]``, applied by every
capability's ``purge`` (connection first, never commits)."""

from __future__ import annotations

from typing import Any

from surmesure.config import RetentionSettings
from surmesure.decisions import rights as decisions_rights
from surmesure.events import rights as events_rights
from surmesure.profiles import rights as profiles_rights
from surmesure.recommendations import rights as recommendations_rights

__all__ = ["cutoffs", "purge"]

_DAY_MS = 86_400_000


def cutoffs(retention: RetentionSettings, now_ms: int) -> dict[str, int | None]:
    """Per kind of data, the time before which rows are expired (None: kept for ever)."""

    def cut(days: int) -> int | None:
        return now_ms - days * _DAY_MS if days > 0 else None

    return {
        "events": cut(retention.events_days),
        "quarantine": cut(retention.quarantine_days),
        "conflicts": cut(retention.conflicts_days),
        "dead_letters": cut(retention.dead_letters_days),
        "decisions": cut(retention.decisions_days),
        "merges": cut(retention.merges_days),
    }


def purge(conn: Any, retention: RetentionSettings, now_ms: int) -> dict[str, int]:
    """Delete every expired row; rows deleted per table."""
    cuts = cutoffs(retention, now_ms)
    counts: dict[str, int] = {}
    counts.update(
        events_rights.purge(
            conn,
            events_before_ms=cuts["events"],
            quarantine_before_ms=cuts["quarantine"],
            conflicts_before_ms=cuts["conflicts"],
            dead_letters_before_ms=cuts["dead_letters"],
        )
    )
    counts.update(decisions_rights.purge(conn, decisions_before_ms=cuts["decisions"]))
    # the answers shown to people are part of the decision log
    counts.update(recommendations_rights.purge(conn, before_ms=cuts["decisions"]))
    counts.update(profiles_rights.purge(conn, merges_before_ms=cuts["merges"]))
    return counts
