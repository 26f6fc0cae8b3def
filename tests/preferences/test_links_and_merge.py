"""The pure parts: signed links (genuine, altered, re-signed, expired) and the rule
that, when two merged profiles disagree, the stricter choice wins."""

from __future__ import annotations

import base64

import orjson
import pytest

from surmesure.consent.domain import combine_profiles_consent, effective_consent, fold_context, may_send
from surmesure.preferences.links import LinkExpired, LinkInvalid, link_key, sign, verify

KEY = link_key("test-identity-hash-key")


def test_a_genuine_link_names_its_person_until_it_expires() -> None:
    token = sign(KEY, "profile_id:p-1", expires_ms=2_000)
    assert verify(KEY, token, now_ms=1_999) == "profile_id:p-1"
    with pytest.raises(LinkExpired) as expired:
        verify(KEY, token, now_ms=2_000)
    assert expired.value.code == "preferences.link_expired"


def test_an_altered_or_foreign_link_is_invalid_never_expired() -> None:
    token = sign(KEY, "profile_id:p-1", expires_ms=10_000)
    version, payload, signature = token.split(".")
    other = base64.urlsafe_b64encode(orjson.dumps({"s": "profile_id:p-2", "e": 10_000})).rstrip(b"=").decode()
    for forged in (
        f"{version}.{other}.{signature}",  # someone else's id under this signature
        f"{version}.{payload}.{signature[:-2]}AA",
        sign(link_key("another key"), "profile_id:p-1", expires_ms=10_000),
        sign(link_key("another key"), "profile_id:p-1", expires_ms=0),  # forged and old: still invalid
        "v2." + payload + "." + signature,
        "",
        "x" * 2000,
    ):
        with pytest.raises(LinkInvalid) as refused:
            verify(KEY, forged, now_ms=1)
        assert refused.value.code == "preferences.link_invalid"
    with pytest.raises(ValueError):
        sign(KEY, "email:someone@example.com", expires_ms=1)


def test_the_stricter_choice_wins_when_merged_profiles_disagree() -> None:
    refused = {"personalization": {"granted": False, "at_ms": 100, "source": "event"}}
    granted = {"personalization": {"granted": True, "at_ms": 200, "source": "event"}}
    for a, b in ((refused, granted), (granted, refused)):
        merged = combine_profiles_consent(a, b)
        assert merged["personalization"]["granted"] is False
        assert merged["personalization"]["at_ms"] == 200  # only a later choice lifts it
        assert merged["personalization"]["source"] == "merge"
    # where they agree, the latest choice is kept as it was
    later = {"personalization": {"granted": False, "at_ms": 300, "source": "api"}}
    assert combine_profiles_consent(refused, later)["personalization"] == later["personalization"]
    # a choice made after the merge is the person's newest word
    merged = combine_profiles_consent(refused, granted)
    regrant = fold_context(merged, {"consent": {"categoryPreferences": {"personalization": True}}}, at_ms=201)
    assert regrant["personalization"]["granted"] is True
    # ... but one made at the time of the disagreement does not
    tie = fold_context(merged, {"consent": {"categoryPreferences": {"personalization": True}}}, at_ms=200)
    assert tie["personalization"]["granted"] is False


def test_gpc_is_recorded_as_its_own_source_and_the_send_hook_follows_consent() -> None:
    state = fold_context(
        {},
        {"gpc": True, "consent": {"categoryPreferences": {"marketing": True, "analytics": True}}},
        at_ms=5,
        bases={"marketing": "consent", "analytics": "legitimate_interest"},
    )
    assert state["marketing"] == {"granted": False, "at_ms": 5, "source": "gpc", "basis": "consent"}
    assert state["analytics"]["source"] == "event"
    defaults = {"analytics": True, "personalization": False, "marketing": False, "partners": False}
    assert not may_send(state, defaults, "marketing")
    assert not may_send({}, defaults, "partners")
    assert not may_send({}, defaults, "no_such_purpose")
    assert effective_consent({}, {"surveys": True})["surveys"] is True
