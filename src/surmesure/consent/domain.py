"""Consent per purpose, as data.

An event may carry consent in ``context.consent.categoryPreferences`` (Segment's
consent spec), e.g. ``{"analytics": true, "personalization": false}``, and the
Global Privacy Control signal as ``context.gpc`` / the ``Sec-GPC: 1`` header. A
profile keeps, per purpose, the latest explicit choice (by event time) with its time
and source. What a purpose is worth when nobody said anything depends on its legal
basis: ``consent`` means off until granted, ``legitimate_interest`` on until refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "PURPOSES",
    "ConsentChoice",
    "ConsentState",
    "combine_profiles_consent",
    "consent_from_context",
    "effective_consent",
    "merge_consent",
    "minimize_ip",
]

PURPOSES = ("analytics", "personalization", "marketing")
Basis = Literal["consent", "legitimate_interest"]


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
    if gpc_header or context.get("gpc") is True or context.get("globalPrivacyControl") is True:
        # GPC is a "do not sell or share" signal: it refuses marketing, whatever else says.
        choices["marketing"] = False
    return choices


def merge_consent(state: ConsentState, choices: dict[str, bool], *, at_ms: int, source: str) -> ConsentState:
    """Apply choices made at ``at_ms``; the latest choice per purpose wins (order-free)."""
    out = dict(state)
    for purpose, granted in choices.items():
        current = out.get(purpose)
        if current is None or (at_ms, granted is False) >= (current["at_ms"], current["granted"] is False):
            out[purpose] = {"granted": granted, "at_ms": at_ms, "source": source}
    return out


def combine_profiles_consent(a: ConsentState, b: ConsentState) -> ConsentState:
    """Two merged profiles: the latest choice wins; at equal times the stricter one."""
    out = dict(a)
    for purpose, choice in b.items():
        current = out.get(purpose)
        if current is None or (choice["at_ms"], choice["granted"] is False) > (
            current["at_ms"],
            current["granted"] is False,
        ):
            out[purpose] = choice
    return out


def effective_consent(state: ConsentState, bases: dict[str, Basis]) -> dict[str, bool]:
    """Whether each purpose is allowed now, from explicit choices and the legal bases."""
    allowed: dict[str, bool] = {}
    for purpose in set(bases) | set(state):
        choice = state.get(purpose)
        if choice is not None:
            allowed[purpose] = bool(choice["granted"])
        else:
            allowed[purpose] = bases.get(purpose, "consent") == "legitimate_interest"
    return allowed


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
