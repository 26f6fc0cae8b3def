"""Consent per purpose, as data.

An event may carry consent in ``context.consent.categoryPreferences`` (Segment's
consent spec), e.g. ``{"analytics": true, "personalization": false}``, and the
Global Privacy Control signal as ``context.gpc`` / the ``Sec-GPC: 1`` header. A
profile keeps, per purpose, the latest explicit choice (by event time) with its time
and source. What a purpose is worth when nobody said anything depends on its legal
basis: ``consent`` means off until granted, ``legitimate_interest`` on until refused
(or off, when a deployment declares it so). When two profiles merge and disagree on a
purpose, the stricter choice wins (a refusal over a grant).

Campaigns and journeys do not exist yet: whatever sends a message must first ask
:func:`may_send` for the purpose it serves (``marketing`` for a newsletter).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CONTEXT_KEYS",
    "PURPOSES",
    "PURPOSE_NAME",
    "SOURCES",
    "Basis",
    "ConsentChoice",
    "ConsentState",
    "allowed",
    "combine_profiles_consent",
    "consent_from_context",
    "consent_source",
    "effective_consent",
    "fold_context",
    "gpc_signal",
    "may_send",
    "merge_consent",
    "minimize_ip",
]

PURPOSES = ("analytics", "personalization", "marketing")
Basis = Literal["consent", "legitimate_interest"]
#: what a purpose a deployment declares may be called
PURPOSE_NAME = r"^[a-z][a-z0-9_]{1,39}$"
#: how a choice was made, as recorded: an event's own ``context.consent``, the Global
#: Privacy Control signal, the API (secret key), the preference centre page, the
#: visitor's own browser (write key), two profiles joined (the stricter choice kept)
SOURCES = ("event", "gpc", "api", "preference_centre", "visitor", "merge")
#: the keys of an event's ``context`` that may carry a choice
CONTEXT_KEYS = frozenset({"consent", "gpc", "globalPrivacyControl"})


@dataclass(frozen=True, slots=True)
class ConsentChoice:
    granted: bool
    at_ms: int
    source: str  # "event", "gpc", "api"


ConsentState = dict[str, dict[str, Any]]  # purpose -> {"granted", "at_ms", "source"}


def consent_from_context(context: dict[str, Any], *, gpc_header: bool = False) -> dict[str, bool]:
    """Explicit choices an event carries; purposes it says nothing about are absent."""
    choices: dict[str, bool] = {}
    consent = context.get("consent")
    if isinstance(consent, dict):
        prefs = consent.get("categoryPreferences", consent)
        if isinstance(prefs, dict):
            for purpose, value in prefs.items():
                if isinstance(purpose, str) and isinstance(value, bool):
                    choices[purpose.lower()] = value
    if gpc_header or gpc_signal(context):
        # GPC is a "do not sell or share" signal: it refuses marketing, whatever else says.
        choices["marketing"] = False
    return choices


def consent_source(context: Mapping[str, Any], default: str = "event") -> str:
    """The source a choice is recorded with: ``context.consent.source`` when it is one of
    :data:`SOURCES` (set by the consent API and the preference centre), else ``default``."""
    consent = context.get("consent")
    source = consent.get("source") if isinstance(consent, dict) else None
    return source if isinstance(source, str) and source in SOURCES and source != "merge" else default


def gpc_signal(context: Mapping[str, Any]) -> bool:
    return context.get("gpc") is True or context.get("globalPrivacyControl") is True


def merge_consent(
    state: ConsentState,
    choices: Mapping[str, bool],
    *,
    at_ms: int,
    source: str,
    bases: Mapping[str, Basis] | None = None,
) -> ConsentState:
    """Apply choices made at ``at_ms``; the latest choice per purpose wins (order-free;
    at equal times the stricter one). With ``bases``, each choice records the legal
    basis its purpose had when it was made."""
    out = dict(state)
    for purpose, granted in choices.items():
        current = out.get(purpose)
        if current is None or (at_ms, granted is False) >= (current["at_ms"], current["granted"] is False):
            entry: dict[str, Any] = {"granted": granted, "at_ms": at_ms, "source": source}
            if bases is not None:
                entry["basis"] = bases.get(purpose, "consent")
            out[purpose] = entry
    return out


def fold_context(
    state: ConsentState, context: Mapping[str, Any], *, at_ms: int, bases: Mapping[str, Basis] | None = None
) -> ConsentState:
    """The choices one event's ``context`` carries, applied at its time: marketing refused
    by Global Privacy Control is recorded with the source ``gpc``, the rest with
    :func:`consent_source`. Used by the profile step and by readers of recent events."""
    choices = consent_from_context(context if isinstance(context, dict) else dict(context))
    if not choices:
        return state
    if gpc_signal(context) and "marketing" in choices:
        state = merge_consent(
            state, {"marketing": choices.pop("marketing")}, at_ms=at_ms, source="gpc", bases=bases
        )
    return merge_consent(state, choices, at_ms=at_ms, source=consent_source(context), bases=bases)


def combine_profiles_consent(a: ConsentState, b: ConsentState) -> ConsentState:
    """Two merged profiles: where they agree, the latest choice; where they disagree,
    **the stricter choice wins** (the refusal), dated at the later of the two choices,
    with the source ``merge``, so that only a choice made after both can lift it."""
    out = dict(a)
    for purpose, choice in b.items():
        current = out.get(purpose)
        if current is None:
            out[purpose] = choice
        elif bool(current["granted"]) != bool(choice["granted"]):
            refusal = current if not current["granted"] else choice
            out[purpose] = {
                **refusal,
                "at_ms": max(int(current["at_ms"]), int(choice["at_ms"])),
                "source": "merge",
                "merged_from": refusal.get("source"),
            }
        elif int(choice["at_ms"]) > int(current["at_ms"]):
            out[purpose] = choice
    return out


def effective_consent(state: ConsentState, bases: Mapping[str, Basis | bool]) -> dict[str, bool]:
    """Whether each purpose is allowed now, from explicit choices and, for the purposes
    nobody chose, the legal bases (``consent``: off, ``legitimate_interest``: on) or a
    declared default (a bool)."""
    allowed: dict[str, bool] = {}
    for purpose in set(bases) | set(state):
        choice = state.get(purpose)
        if choice is not None:
            allowed[purpose] = bool(choice["granted"])
        else:
            default = bases.get(purpose, "consent")
            allowed[purpose] = default if isinstance(default, bool) else default == "legitimate_interest"
    return allowed


def allowed(state: ConsentState, purpose: str, default: bool) -> bool:
    """Whether ``purpose`` is allowed: the recorded choice, else ``default``."""
    choice = state.get(purpose)
    return bool(choice["granted"]) if choice is not None else default


def may_send(state: ConsentState, bases: Mapping[str, Basis | bool], purpose: str = "marketing") -> bool:
    """The hook every sender calls before a message leaves (campaigns, journeys, email,
    push): whether the person's consent allows ``purpose`` now. Unknown purposes are
    refused."""
    if purpose not in bases and purpose not in state:
        return False
    return effective_consent(state, bases).get(purpose, False)


def minimize_ip(ip: str, mode: Literal["truncate", "hash", "drop"], *, key: str = "") -> str | None:
    """Truncate (IPv4 /24, IPv6 /48), hash (keyed) or drop an IP address before storage."""
    if mode == "drop" or not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if mode == "hash":
        return hashlib.blake2b(address.packed, key=key.encode()[:64], digest_size=16).hexdigest()
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)
