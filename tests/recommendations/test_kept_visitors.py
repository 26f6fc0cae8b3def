"""Visitors kept between requests: an answer from the kept, prepared visitor is the
answer from scratch; a new event, or a new model version, is taken into account at the
next request."""

from __future__ import annotations

import gc
import weakref

import httpx
import pytest
from recshop import CONSENTED, HATS, SHOES, ready, retrain

from surmesure.recommendations.service import Recommendations, Who
from surmesure.recommendations.serving import Query, answer, prepare
from surmesure.recommendations.signals import Visitor

from builders import track
from conftest import LiveServer


def _service(server: LiveServer) -> Recommendations:
    service: Recommendations = server.services.capabilities["recommendations"]
    return service


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_prepared_answers_are_the_answers_from_scratch(server: LiveServer, admin: httpx.Client) -> None:
    ready(server, admin)
    service = _service(server)
    served = service._served
    assert served is not None
    queries = [
        Query(k=5),
        Query(context="email", k=5),
        Query(context="cart", k=5, item_ids=(SHOES[0], HATS[1])),
        Query(context="item", k=5, item_id=SHOES[2]),
    ]
    for person in ("person-1", "person-25", "nobody"):
        visitor = service.visitor(Who(person, "user_id"))
        for visited in (visitor, Visitor()):
            kept = prepare(served, visited)
            for query in queries:
                fresh = answer(served, query, visited, now_ms=1_900_000_000_000)
                again = answer(served, query, visited, now_ms=1_900_000_000_000, prepared=kept)
                assert again == fresh


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_new_event_or_model_reaches_the_next_answer(server: LiveServer, admin: httpx.Client) -> None:
    ready(server, admin)
    service = _service(server)
    who = Who("person-3", "user_id")
    first = service.recommend(Query(k=5), who)
    assert service.recommend(Query(k=5), who) == first  # from the kept visitor
    key = next(iter(service._visitors))
    kept = service._visitors[key]
    assert kept.prepared is not None
    assert kept.prepared[0]() is service._served

    # a view of hats only: the person's next answer changes without retraining
    views = [
        track("Product Viewed", userId="person-3", properties={"product_id": h}, context=CONSENTED)
        for h in HATS[:6]
    ]
    assert admin.post("/v1/batch", json={"batch": views}).status_code == 200
    server.wait_pipeline()
    moved = service.recommend(Query(k=5), who)
    assert moved["items"] != first["items"]  # new scores at least
    assert service._visitors[key] is not kept
    assert {s.item_id for s in service._visitors[key].visitor.signals} >= set(HATS[:6])

    # a new model version: the old one is not kept alive by kept visitors, and the
    # visitor is prepared again for the new one
    old = weakref.ref(service._served)
    retrain(server)
    gc.collect()
    assert old() is None
    service.recommend(Query(k=5), who)
    latest = service._visitors[key].prepared
    assert latest is not None
    assert latest[0]() is service._served
