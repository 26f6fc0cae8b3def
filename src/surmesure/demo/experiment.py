"""The demo's live experiment: a home-page banner with three variants, A/B/n.

``surmesure demo`` applies :data:`DEFINITIONS` after loading the shop, through the same
path as ``surmesure apply`` and ``PUT /v1/definitions`` (applying it again changes
nothing). The home page decides on :data:`PLACEMENT` for the browser's anonymousId, the
page's script sends ``Placement Viewed`` and ``Placement Clicked`` with the decision id,
and ``/demo/experiment`` shows the results.
"""

from __future__ import annotations

from typing import Any

from surmesure.decisions.apply import apply
from surmesure.decisions.service import Decisions
from surmesure.deps import Services

__all__ = ["DEFINITIONS", "EXPERIMENT", "PLACEMENT", "apply_experiment", "banner", "decisions_of", "results"]

PLACEMENT = "demo-home-banner"
EXPERIMENT = "demo-home-banner-ab"


def _banner(headline: str, text: str, link: str, cta: str) -> dict[str, Any]:
    return {"content": {"headline": headline, "text": text, "link": link, "cta": cta}}


DEFINITIONS: dict[str, Any] = {
    "placements": {
        PLACEMENT: {
            "channel": "web",
            "slot": "home-banner",
            "name": "Home page banner",
            "variants": [
                {"id": "shoes", **_banner("Step into the season", "New shoes, every size.",
                                          "/category/Shoes", "Shop shoes")},
                {"id": "electronics", **_banner("Tech you will use", "Headphones, phones, smart home.",
                                                "/category/Electronics", "Shop electronics")},
                {"id": "books", **_banner("Read something new", "Fiction, cooking, children's books.",
                                          "/category/Books", "Shop books")},
            ],
            "fallback": "shoes",
        }
    },
    "experiments": {
        EXPERIMENT: {
            "placement": PLACEMENT,
            "kind": "ab",
            "arms": [
                {"name": "shoes", "variant": "shoes"},
                {"name": "electronics", "variant": "electronics"},
                {"name": "books", "variant": "books"},
            ],
            "salt": "demo",
        }
    },
}  # fmt: skip


def decisions_of(services: Services) -> Decisions | None:
    found = services.capabilities.get("decisions")
    return found if isinstance(found, Decisions) else None


def apply_experiment(services: Services) -> dict[str, Any]:
    """Apply the demo's placement and experiment; each definition's version."""
    decisions = decisions_of(services)
    if decisions is None:
        raise RuntimeError("the decisions capability is not available")
    return apply(decisions, DEFINITIONS)


def banner(services: Services, anonymous_id: str) -> dict[str, Any] | None:
    """The home banner decided for this visitor; None when the experiment is not applied."""
    from surmesure.decisions.domain import PlacementNotFound
    from surmesure.recommendations.service import Who

    decisions = decisions_of(services)
    if decisions is None:
        return None
    try:
        answer = decisions.decide(PLACEMENT, Who(anonymous_id, "anonymous_id"), {})
    except PlacementNotFound:
        return None
    if answer.get("suppressed") or not isinstance(answer.get("content"), dict):
        return None
    arm = (answer.get("experiment") or {}).get("arm")
    return {**answer, "arm": arm}


def results(services: Services) -> dict[str, Any] | None:
    """The experiment's results (``GET /v1/experiments/{id}/results``); None when absent."""
    from surmesure.decisions.domain import ExperimentNotFound

    decisions = decisions_of(services)
    if decisions is None:
        return None
    try:
        return decisions.results(EXPERIMENT)
    except ExperimentNotFound:
        return None
