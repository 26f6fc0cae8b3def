"""The preference centre's use cases: read a person's consent, record a choice through
the ingestion path, sign and check links, and gather "why am I seeing this".

A choice is recorded as an event (``Segment Consent Preference Updated`` carrying
``context.consent.categoryPreferences`` and its ``source``) through the same
ingestion as ``/v1/batch``: it is stored, deduplicated, erased and exported like any
event, and the pipeline folds it into the profile (well under a second). A
recommendation reads it from the person's latest events at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from surmesure.catalog import service as catalog_service
from surmesure.clock import Clock, utc_ms
from surmesure.config import Settings
from surmesure.consent.domain import ConsentState, fold_context
from surmesure.decisions import rights as decisions_rights
from surmesure.errors import InvalidInput, NotFound
from surmesure.events.service import Ingestor
from surmesure.ids import new_id
from surmesure.profiles.service import ProfileNotFound, ProfileService
from surmesure.recommendations import rights as shown_rights
from surmesure.recommendations.signals import timestamp_ms

from . import links
from .why import explain_decision, explain_shown

__all__ = ["CONSENT_EVENT", "Person", "Preferences", "UnknownPurpose"]

#: the event a recorded choice is (Segment's consent-management event name)
CONSENT_EVENT = "Segment Consent Preference Updated"

_BUILT_IN = {
    "analytics": ("Analytics", "Counting visits and what is viewed, to improve the site for everyone."),
    "personalization": (
        "Personalization",
        "Using what you browse and buy to choose recommendations and content for you.",
    ),
    "marketing": ("Marketing", "Emails and offers based on your activity."),
}
#: the latest events read for choices the pipeline has not folded yet
_RECENT = 200
_BASIS_WORDS = {
    "consent": "your consent: off until you allow it",
    "legitimate_interest": "our legitimate interest: on until you object",
}


class UnknownPurpose(InvalidInput):
    code = "consent.unknown_purpose"


@dataclass(frozen=True, slots=True)
class Person:
    """Who a request or a link names: an identifier and its type, and the live profile."""

    id_type: str | None
    value: str
    profile_id: str | None


class Preferences:
    """Consent, links and "why" for one person at a time."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        clock: Clock,
        profiles: ProfileService,
        ingestor: Ingestor,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.profiles = profiles
        self.ingestor = ingestor
        self.key = links.link_key(settings.identity.hash_key.get_secret_value())

    def _now(self) -> int:
        return utc_ms(self.clock.now())

    # -- who --------------------------------------------------------------------------
    def person(self, identifier: str, id_type: str | None = None, *, must_exist: bool = True) -> Person:
        with self.engine.connect() as conn:
            pid = self.profiles.resolve_id(conn, identifier, id_type)
        if pid is None and must_exist and id_type not in ("anonymous_id", "user_id"):
            raise ProfileNotFound(f"no profile for {identifier!r}", identifier=identifier)
        return Person(id_type, identifier, pid)

    def link(self, person: Person, base_url: str = "") -> dict[str, Any]:
        """A signed link to the person's preference centre (their profile id, else their
        anonymous id), valid ``preferences.link_ttl_hours``."""
        if person.profile_id is not None:
            subject = f"profile_id:{person.profile_id}"
        elif person.id_type == "anonymous_id":
            subject = f"anonymous_id:{person.value}"
        else:
            raise ProfileNotFound(f"no profile for {person.value!r}", identifier=person.value)
        expires = self._now() + int(self.settings.preferences.link_ttl_hours * 3_600_000)
        token = links.sign(self.key, subject, expires)
        return {
            "token": token,
            "url": f"{base_url}/privacy/preferences?t={token}",
            "why_url": f"{base_url}/privacy/why?t={token}",
            "expires_at": _iso(expires),
        }

    def from_link(self, token: str) -> Person:
        """The person a genuine, unexpired link names (``preferences.link_invalid`` /
        ``preferences.link_expired`` otherwise)."""
        id_type, value = links.verify(self.key, token, self._now()).split(":", 1)
        return self.person(value, id_type, must_exist=False)

    # -- consent ----------------------------------------------------------------------
    def purposes(self) -> list[dict[str, Any]]:
        """Every purpose the deployment uses: name, title, description, basis, default."""
        consent = self.settings.consent
        defaults = consent.defaults()
        out = []
        for name, basis in consent.bases().items():
            declared = consent.purposes.get(name)
            title, description = _BUILT_IN.get(name, (name.replace("_", " ").capitalize(), ""))
            if declared is not None:
                title, description = declared.title or title, declared.description or description
            out.append({"purpose": name, "title": title, "description": description, "basis": basis,
                        "basis_words": _BASIS_WORDS[basis], "default": defaults[name]})  # fmt: skip
        return out

    def state(self, person: Person) -> ConsentState:
        """The person's recorded choices: their profile's, brought up to date with the
        choices their latest events carry (an event the pipeline has not folded yet is
        already the person's choice; at equal times the stricter one wins, so a refusal
        kept when two profiles were joined stands)."""
        if person.profile_id is not None:
            identifier, id_type = person.profile_id, "profile_id"
        elif person.id_type in ("anonymous_id", "user_id"):
            identifier, id_type = person.value, person.id_type
        else:
            return {}
        recent = self.profiles.recent(identifier, id_type=id_type, limit=_RECENT)
        state: ConsentState = dict(recent.state)
        bases = self.settings.consent.bases()
        for body in reversed(recent.bodies or []):  # oldest first
            context = body.get("context")
            if isinstance(context, dict) and context:
                state = fold_context(state, context, at_ms=timestamp_ms(body), bases=bases)
        return state

    def consent(self, person: Person) -> dict[str, Any]:
        """Each purpose's state for the person: allowed now, their latest choice, when, how."""
        state = self.state(person)
        out = []
        for purpose in self.purposes():
            recorded = state.get(purpose["purpose"]) or {}
            granted = recorded.get("granted")
            allowed = purpose["default"] if granted is None else bool(granted)
            at = None if recorded.get("at_ms") is None else _iso(int(recorded["at_ms"]))
            how = {"at": at, "source": recorded.get("source"), "basis_at_choice": recorded.get("basis")}
            out.append({**purpose, "allowed": allowed, "granted": granted, **how})
        return {"profile_id": person.profile_id, "purposes": out}

    def check_choices(self, choices: Mapping[str, Any]) -> dict[str, bool]:
        known = self.settings.consent.bases()
        unknown = sorted(set(choices) - set(known))
        if unknown:
            raise UnknownPurpose(
                f"unknown purpose {unknown[0]!r}: the purposes are {', '.join(known)}",
                unknown=unknown, purposes=list(known),
            )  # fmt: skip
        if not choices:
            raise InvalidInput('say at least one purpose\'s choice, e.g. {"marketing": false}')
        return {name: bool(value) for name, value in choices.items()}

    def _event_identity(self, person: Person) -> dict[str, str]:
        if person.id_type == "anonymous_id":
            return {"anonymousId": person.value}
        if person.profile_id is None:
            if person.id_type == "user_id":
                return {"userId": person.value}
            raise ProfileNotFound(f"no profile for {person.value!r}", identifier=person.value)
        view = self.profiles.get(person.profile_id, "profile_id") or {}
        ids = {(i["type"], i["value"]) for i in view.get("identifiers", [])}
        users = sorted(v for t, v in ids if t == "user_id")
        anons = sorted(v for t, v in ids if t == "anonymous_id")
        if person.id_type == "user_id" and person.value in users:
            return {"userId": person.value}
        if users:
            return {"userId": users[0]}
        if anons:
            return {"anonymousId": anons[0]}
        raise NotFound("this profile has no user id or anonymous id to record a choice for")

    def record(
        self, person: Person, choices: Mapping[str, Any], *, source: str, key_source: str, gpc: bool = False
    ) -> dict[str, Any]:
        """Record choices as an event through ingestion; the consent as it now stands
        (the pipeline folds the event into the profile within a second)."""
        checked = self.check_choices(choices)
        message_id = f"consent-{new_id()}"
        event = {
            "type": "track", "event": CONSENT_EVENT, "messageId": message_id,
            **self._event_identity(person),
            "properties": {"purposes": checked, "source": source},
            "context": {"consent": {"categoryPreferences": checked, "source": source}},
        }  # fmt: skip
        result = self.ingestor.ingest_sync([event], source=key_source, gpc_header=gpc)
        if result.errors:
            error = result.errors[0]
            raise InvalidInput(f"the choice was refused: {error.message}", code=error.code)
        # the event is committed: the person's latest events already hold the choice
        view = self.consent(person)
        return {**view, "message_id": message_id, "gpc": gpc}

    # -- why ----------------------------------------------------------------------------
    def why(self, person: Person, limit: int | None = None) -> dict[str, Any]:
        """The latest decisions and recommendation answers for the person, explained."""
        limit = limit or self.settings.preferences.why_limit
        pids: list[str] = []
        keys: set[str] = set()
        if person.id_type is not None:
            keys.add(f"{person.id_type}:{person.value}")
        if person.profile_id is not None:
            pids.append(person.profile_id)
            view = self.profiles.get(person.profile_id, "profile_id") or {}
            for ident in view.get("identifiers", []):
                keys.add(f"{ident['type']}:{ident['value']}")
                if ident["type"] in ("user_id", "anonymous_id"):
                    keys.add(f"id:{ident['value']}")
        with self.engine.connect() as conn:
            decided = decisions_rights.recent(conn, pids, keys, limit)
            shown = shown_rights.recent(conn, pids, keys | set(pids), limit)
        titles: dict[str, str | None] = {}

        def title(item_id: str) -> str | None:
            if item_id not in titles:
                try:
                    titles[item_id] = catalog_service.get_item(self.engine, item_id).title
                except NotFound:
                    titles[item_id] = None
            return titles[item_id]

        consent = {p["purpose"]: p["allowed"] for p in self.consent(person)["purposes"]}
        return {
            "profile_id": person.profile_id,
            "personalization_allowed": consent.get("personalization", False),
            "decisions": [explain_decision(r, _iso) for r in decided],
            "recommendations": [explain_shown(r, _iso, title) for r in shown],
        }


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
