"""The identity graph as a pure function: caps, separations, placeholders, order."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from surmesure.profiles.identity import Caps, Link, event_identifiers, resolve

CAPS = Caps({"user_id": 1, "email": 2, "crm_id": 1})


def groups(res: object) -> set[frozenset[str]]:
    return set(res.groups)  # type: ignore[attr-defined]


def test_anonymous_history_joins_the_known_person() -> None:
    res = resolve(
        [],
        [
            Link.of("user_id:u1", "anonymous_id:a1", 10, "m1"),
            Link.of("user_id:u1", "anonymous_id:a2", 20, "m2"),
        ],
        CAPS,
    )
    assert groups(res) == {frozenset({"user_id:u1", "anonymous_id:a1", "anonymous_id:a2"})}


def test_a_shared_device_does_not_fuse_two_known_people() -> None:
    links = [
        Link.of("user_id:alice", "anonymous_id:tablet", 10, "m1"),
        Link.of("user_id:bob", "anonymous_id:tablet", 20, "m2"),
    ]
    res = resolve([], links, CAPS)
    assert groups(res) == {
        frozenset({"user_id:alice", "anonymous_id:tablet"}),
        frozenset({"user_id:bob"}),
    }
    assert res.refused == {("anonymous_id:tablet", "user_id:bob")}


def test_first_user_by_event_time_keeps_the_device_whatever_the_arrival_order() -> None:
    early = Link.of("user_id:bob", "anonymous_id:tablet", 5, "m0")
    late = Link.of("user_id:alice", "anonymous_id:tablet", 10, "m1")
    assert groups(resolve([], [late, early], CAPS)) == groups(resolve([], [early, late], CAPS))
    assert frozenset({"user_id:bob", "anonymous_id:tablet"}) in groups(resolve([], [late, early], CAPS))


def test_separation_keeps_identifiers_apart() -> None:
    links = [Link.of("user_id:u1", "anonymous_id:a1", 10, "m1")]
    res = resolve([], links, CAPS, {"s1": [("L", "anonymous_id:a1"), ("R", "user_id:u1")]})
    assert groups(res) == {frozenset({"user_id:u1"}), frozenset({"anonymous_id:a1"})}


def test_email_cap() -> None:
    links = [Link.of("user_id:u", f"email:{i}", i, f"m{i}") for i in range(4)]
    res = resolve([], links, CAPS)
    assert frozenset({"user_id:u", "email:0", "email:1"}) in groups(res)


def test_placeholders_never_become_identifiers() -> None:
    for value in [
        "null",
        "undefined",
        "anonymous",
        "0",
        "-1",
        "",
        "00000000-0000-0000-0000-000000000000",
        "000",
    ]:
        ids = event_identifiers(
            {"type": "identify", "userId": "u1", "anonymousId": value, "traits": {"email": "null"}},
            ts_ms=1,
            hash_key="k",
        )
        assert ids is not None
        assert ids.keys == ("user_id:u1",), value
        assert ids.links == ()
    assert (
        event_identifiers({"type": "track", "userId": "null", "anonymousId": "0"}, ts_ms=1, hash_key="k")
        is None
    )


def test_email_is_stored_as_a_keyed_hash() -> None:
    ids = event_identifiers(
        {"type": "identify", "userId": "u1", "traits": {"email": " Alice@Example.com "}},
        ts_ms=1,
        hash_key="k",
    )
    assert ids is not None
    email_keys = [k for k in ids.keys if k.startswith("email:")]
    assert len(email_keys) == 1
    assert "alice" not in email_keys[0].lower()
    other = event_identifiers(
        {"type": "identify", "userId": "u2", "traits": {"email": "alice@example.com"}}, ts_ms=1, hash_key="k"
    )
    assert other is not None
    assert [k for k in other.keys if k.startswith("email:")] == email_keys  # normalized before hashing


def test_external_ids_from_configured_paths() -> None:
    ids = event_identifiers(
        {
            "type": "track",
            "anonymousId": "a",
            "context": {"device": {"id": "dev-1"}},
            "traits": {"crm_id": 42},
        },
        ts_ms=1,
        hash_key="k",
        external=[("crm_id", ("traits.crm_id",)), ("device_id", ("context.device.id",))],
    )
    assert ids is not None
    assert set(ids.keys) == {"anonymous_id:a", "crm_id:42", "device_id:dev-1"}


_users = st.sampled_from([f"user_id:u{i}" for i in range(3)])
_others = st.sampled_from(
    [f"anonymous_id:a{i}" for i in range(6)] + ["email:e1", "email:e2", "email:e3", "crm_id:c1"]
)
_links = st.lists(
    st.builds(
        lambda u, o, t, m: Link.of(u, o, t, f"m{m}"),
        st.one_of(_users, _others),
        _others,
        st.integers(0, 20),
        st.integers(0, 50),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(_links, st.randoms(use_true_random=False))
def test_resolution_does_not_depend_on_order(links: list[Link], rnd: random.Random) -> None:
    shuffled = list(links)
    rnd.shuffle(shuffled)
    assert groups(resolve([], links, CAPS)) == groups(resolve([], shuffled, CAPS))


@settings(max_examples=300, deadline=None)
@given(_links)
def test_no_group_exceeds_a_cap(links: list[Link]) -> None:
    for group in resolve([], links, CAPS).groups:
        assert sum(k.startswith("user_id:") for k in group) <= 1
        assert sum(k.startswith("email:") for k in group) <= 2
