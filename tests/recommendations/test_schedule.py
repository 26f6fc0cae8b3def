"""``recommendations.retrain_every_minutes``: the server trains in a process of its own
(at once when it has no model) and swaps the new version in."""

from __future__ import annotations

import time
from pathlib import Path

from recshop import load

from conftest import SECRET_KEY, LiveServer, make_settings


def test_the_schedule_trains_in_another_process_and_swaps_the_model_in(
    tmp_path: Path, sqlite_url: str
) -> None:
    data = tmp_path / "data"
    with LiveServer(make_settings(data, sqlite_url)) as first, first.client(SECRET_KEY) as admin:
        load(first, admin)
    options = {"retrain_every_minutes": 60, "reload_check_seconds": 0.2}
    with LiveServer(make_settings(data, sqlite_url, recommendations=options)) as server:
        service = server.services.capabilities["recommendations"]
        with server.client(SECRET_KEY) as admin:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                response = admin.get("/v1/recommendations", params={"user_id": "person-1"})
                if response.status_code == 200:
                    break
                assert response.json()["error"]["code"] == "recommendations.no_model"
                time.sleep(0.2)
            assert response.status_code == 200, response.text
        assert service.trainings_started == 1
        assert service.version is not None
