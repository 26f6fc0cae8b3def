"""An erased person's influence leaves the model: the server retrains without them and
deletes every older version; their kept visitor is dropped at once. A model trained
before the person arrived is left alone."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from recommendations.recshop import CONSENTED, SHOES, ready
from surmesure.recommendations import artifacts
from surmesure.recommendations.service import Recommendations, Who
from surmesure.recommendations.serving import Query

from builders import batch, track
from conftest import LiveServer


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_erasure_retrains_without_the_person_and_deletes_older_versions(
    server: LiveServer, admin: httpx.Client
) -> None:
    first = ready(server, admin)
    service: Recommendations = server.services.capabilities["recommendations"]
    assert service.recommend(Query(k=5), Who("person-3", "user_id"))["personalized"]
    assert service._visitors, "the visitor is kept between requests"
    root = artifacts.models_dir(server.settings.data_dir)
    people = json.loads((root / first / "manifest.json").read_text())["counts"]["people"]

    erased = admin.delete("/v1/profiles/person-3")
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["model"] == "retraining"
    assert report["cached_visitors_dropped"] == 1
    deadline = time.monotonic() + 60
    while artifacts.current_version(root) == first or (root / "retrain-needed").exists():
        assert time.monotonic() < deadline, "no new version within 60 s"
        time.sleep(0.1)
    current = artifacts.current_version(root)
    # every version that saw the person is gone: what is left (the retraining's version,
    # and one a second training may have added meanwhile) was trained without them
    left = artifacts.versions(root)
    assert current in left
    assert first not in left
    for version in left:
        assert json.loads((root / version / "manifest.json").read_text())["counts"]["people"] == people - 1
    while service.version != current:  # the server swaps the new version in
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert not service.recommend(Query(k=5), Who("person-3", "user_id"))["personalized"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_model_trained_before_the_person_arrived_is_kept(
    server: LiveServer, admin: httpx.Client, client: httpx.Client
) -> None:
    first = ready(server, admin)
    late = track(
        "Product Viewed", userId="late-comer", properties={"product_id": SHOES[0]}, context=CONSENTED
    )
    assert client.post("/v1/batch", json=batch(late)).status_code == 200
    server.wait_pipeline()
    report = admin.delete("/v1/profiles/late-comer").json()
    assert report["model"] == "unchanged"
    root = artifacts.models_dir(server.settings.data_dir)
    assert artifacts.current_version(root) == first
    assert not (root / "retrain-needed").exists()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_training_that_began_before_an_erasure_is_not_served(
    server: LiveServer, admin: httpx.Client
) -> None:
    from datetime import timedelta

    from surmesure.clock import FixedClock, utc_ms
    from surmesure.errors import Conflict
    from surmesure.recommendations.training import train

    first = ready(server, admin)
    root = artifacts.models_dir(server.settings.data_dir)
    began = server.services.clock.now()
    # a person erased while a training (which began reading the store at `began`) still runs
    artifacts.note_erasure(root, utc_ms(began) + 1)
    with pytest.raises(Conflict) as raised:
        train(server.services.engine, server.settings, clock=FixedClock(began))
    assert raised.value.code == "recommendations.training_discarded"
    assert artifacts.versions(root) == [first]  # its version deleted, the served one unchanged
    assert artifacts.current_version(root) == first
    # a training that began after the erasure is served
    later = train(server.services.engine, server.settings, clock=FixedClock(began + timedelta(seconds=1)))
    assert artifacts.current_version(root) == later["version"]
