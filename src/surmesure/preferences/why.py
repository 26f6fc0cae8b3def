""" "Why am I seeing this", in plain words: a person's logged decisions and
recommendation answers turned into sentences and the data behind them. Pure: rows in,
dictionaries out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from surmesure.recommendations.reasons import CODES

__all__ = ["explain_decision", "explain_shown"]

_SEGMENT = re.compile(r"\bsegment ([A-Za-z0-9_-]{1,64})")
#: the person's own events a reason code stands for
_EVENT_OF = {"viewed": "Product Viewed", "carted": "Product Added", "bought": "Order Completed",
             "buy_again": "Order Completed"}  # fmt: skip


def _consent_sentence(personalized: bool, reason: str) -> str:
    if personalized:
        return "Your profile was used to choose it: you allowed personalization."
    if reason.startswith("no person named"):
        return "We did not know who you were: nothing about you was used."
    if reason.startswith("no history"):
        return "You allowed personalization, but we had no history of yours to use yet."
    return "Your profile was not used: personalization is not allowed by your choices."


def explain_decision(row: Mapping[str, Any], iso: Callable[[int], str]) -> dict[str, Any]:
    """One row of the decision log, for the person it was made for."""
    reason = str(row.get("reason") or "")
    personalized = bool(row.get("personalized"))
    placement = str(row.get("placement_id"))
    sentences: list[str] = []
    if row.get("suppressed"):
        sentences.append(f"Nothing was shown in “{placement}”: {row['suppressed']}.")
    else:
        sentences.append(f"You were shown “{row.get('variant')}” in “{placement}” ({row.get('channel')}).")
    sentences.append(_consent_sentence(personalized, reason))
    experiment = None
    if row.get("experiment_id"):
        arm = str(row.get("arm"))
        holdout = arm == "holdout"
        experiment = {"id": row["experiment_id"], "arm": arm, "holdout": holdout,
                      "probability": row.get("propensity")}  # fmt: skip
        group = "the comparison group (holdout), who see the usual content" if holdout else f"group “{arm}”"
        sentences.append(
            f"This is an experiment (“{row['experiment_id']}”): you were put in {group} "
            f"at random, with probability {float(row.get('propensity') or 0):.0%}."
        )
    segments = sorted(set(_SEGMENT.findall(reason)))
    for segment in segments:
        sentences.append(f"It was chosen because you are in the segment “{segment}”.")
    return {
        "kind": "decision",
        "at": iso(int(row["at_ms"])),
        "decision_id": row.get("decision_id"),
        "placement": placement,
        "channel": row.get("channel"),
        "variant": row.get("variant"),
        "suppressed": bool(row.get("suppressed")),
        "personalized": personalized,
        "experiment": experiment,
        "segments": segments,
        "reason": reason,
        "explanation": sentences,
    }


def explain_shown(
    row: Mapping[str, Any], iso: Callable[[int], str], title: Callable[[str], str | None]
) -> dict[str, Any]:
    """One logged recommendation answer: each item with its reason in words and, when the
    reason is one of the person's own events, which."""
    personalized = bool(row.get("personalized"))
    items: list[dict[str, Any]] = []
    for entry in row.get("items") or []:
        item_id, code, about = [*list(entry), None, None, None][:3]
        code = code if code in CODES else "popular"
        about_title = title(str(about)) if about is not None and code in _REFERS_TO_ITEM else None
        text = CODES[code].format(item=about_title or about or "", category=about or "", brand=about or "")
        item: dict[str, Any] = {"item_id": item_id, "title": title(str(item_id)), "code": code, "text": text}
        if about is not None:
            item["about"] = about
        if code in _EVENT_OF and about is not None:
            item["your_event"] = {"event": _EVENT_OF[code], "item_id": about}
        items.append(item)
    reason = row.get("reason")
    return {
        "kind": "recommendations",
        "at": iso(int(row["at_ms"])),
        "context": row.get("context"),
        "personalized": personalized,
        "reason": reason,
        "explanation": [
            f"Recommendations ({row.get('context')}): {len(items)} item(s).",
            _consent_sentence(personalized, str(reason or "")),
        ],
        "items": items,
    }


_REFERS_TO_ITEM = frozenset({"viewed", "carted", "bought", "bought_together", "viewed_together", "similar",
                             "buy_again"})  # fmt: skip
