"""GET /v1/audit/fairness over HTTP, on both stores: a job offer targeted through a
proxy shown only to men raises the alert (placement and segment), a balanced audience
does not, the figures of a tiny log match values computed by hand, and the CLI writes
a report a marketer reads."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from surmesure.config import Settings

from builders import batch, identify, track
from conftest import LiveServer, make_settings

CONSENT = {"consent": {"categoryPreferences": {"personalization": True}}}
PROTECTED = ["traits.gender", "traits.age_band"]


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return make_settings(tmp_path / "data", store_url, audit={"protected": PROTECTED, "min_group": 2})


def careers(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "channel": "web",
        "slot": "careers",
        "variants": [
            {"id": "job-offer", "priority": 10, "when": condition, "content": {"text": "We are hiring"}},
            {"id": "plain", "content": {"text": "Hello"}},
        ],
        "fallback": "plain",
    }


def people(server: LiveServer, client: httpx.Client, spec: list[tuple[str, str, str]]) -> None:
    """(user id, gender, interest) each, with consent to personalization."""
    events = [
        identify(uid, traits={"gender": g, "interest": i, "age_band": "25-34"}, context=CONSENT)
        for uid, g, i in spec
    ]
    assert client.post("/v1/batch", json=batch(*events)).status_code == 200
    server.wait_pipeline()


def decide_all(
    admin: httpx.Client, users: list[str], placement: str = "careers"
) -> dict[str, dict[str, Any]]:
    out = {}
    for uid in users:
        response = admin.post("/v1/decide", json={"placement": placement, "user_id": uid})
        assert response.status_code == 200, response.text
        out[uid] = response.json()
    return out


def test_a_job_offer_shown_only_to_men_raises_the_alert(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    # the offer targets an interest that, in this audience, only men declared: a proxy
    assert (
        admin.put(
            "/v1/segments/car-fans", json={"condition": {"field": "traits.interest", "eq": "cars"}}
        ).status_code
        == 200
    )
    assert admin.put("/v1/placements/careers", json=careers({"segment": "car-fans"})).status_code == 200
    spec = [(f"m{i}", "M", "cars") for i in range(15)] + [(f"w{i}", "F", "fashion") for i in range(15)]
    people(server, client, spec)
    shown = decide_all(admin, [uid for uid, _, _ in spec])
    assert {uid for uid, d in shown.items() if d["variant"] == "job-offer"} == {f"m{i}" for i in range(15)}

    report = admin.get("/v1/audit/fairness", params={"placement": "careers"}).json()
    assert report["alert"] is True
    assert report["people"] == 30
    gender = next(a for a in report["attributes"] if a["attribute"] == "traits.gender")
    assert gender["audience"] == {"f": 15, "m": 15}
    offer = next(e for e in gender["shown"] if e["what"] == "job-offer")
    groups = {g["group"]: g for g in offer["exposure"]["groups"]}
    assert groups["m"]["rate"]["estimate"] == 1.0
    assert groups["f"]["rate"]["estimate"] == 0.0
    assert groups["f"]["ratio_to_reference"] == 0.0
    assert groups["f"]["difference"]["high"] < 0
    assert offer["exposure"]["skewed"] == ["f"]
    alert = next(a for a in report["alerts"] if a["what"] == "job-offer")
    assert alert["attribute"] == "traits.gender"
    assert alert["skewed_against"] == ["f"]
    assert "ALERT" in alert["message"]
    assert "0 of 15" in alert["message"]
    # every age band is the same: no alert on that attribute
    ages = next(a for a in report["attributes"] if a["attribute"] == "traits.age_band")
    assert ages["alerts"] == []

    by_segment = admin.get("/v1/audit/fairness", params={"segment": "car-fans", "attribute": "traits.gender"})
    assert by_segment.status_code == 200
    segment = by_segment.json()
    assert segment["alert"] is True
    assert segment["alerts"][0]["what"] == "member"
    assert segment["alerts"][0]["skewed_against"] == ["f"]

    html = admin.get("/v1/audit/fairness", params={"placement": "careers", "format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "<svg" in html.text
    assert "ALERT" in html.text
    assert "<table>" in html.text


def test_a_balanced_audience_raises_no_alert(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert (
        admin.put(
            "/v1/placements/careers", json=careers({"field": "traits.interest", "eq": "tech"})
        ).status_code
        == 200
    )
    spec = [(f"m{i}", "M", "tech" if i % 2 else "art") for i in range(16)]
    spec += [(f"w{i}", "F", "tech" if i % 2 else "art") for i in range(16)]
    people(server, client, spec)
    decide_all(admin, [uid for uid, _, _ in spec])
    report = admin.get("/v1/audit/fairness", params={"placement": "careers"}).json()
    assert report["alert"] is False
    assert report["alerts"] == []
    gender = next(a for a in report["attributes"] if a["attribute"] == "traits.gender")
    offer = next(e for e in gender["shown"] if e["what"] == "job-offer")
    assert {g["group"]: g["rate"]["estimate"] for g in offer["exposure"]["groups"]} == {"f": 0.5, "m": 0.5}
    assert offer["exposure"]["lowest_ratio"] == 1.0
    assert "no skew" in offer["summary"]


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_the_figures_of_a_tiny_log_match_a_hand_computation(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert (
        admin.put("/v1/placements/careers", json=careers({"field": "traits.interest", "eq": "x"})).status_code
        == 200
    )
    spec = [("m1", "M", "x"), ("m2", "M", "x"), ("m3", "M", "y"), ("w1", "F", "x"), ("w2", "F", "y")]
    people(server, client, spec)
    shown = decide_all(admin, [uid for uid, _, _ in spec])
    # m1 clicks the offer; m2 does not
    click = track("Placement Clicked", userId="m1", properties={"decision_id": shown["m1"]["decision_id"]})
    # w1 buys after the offer; m3's order names no decision of this placement
    bought = track("Order Completed", userId="w1", properties={"decision_id": shown["w1"]["decision_id"]})
    unrelated = track("Order Completed", userId="m3", properties={"order_id": "o-1"})
    assert client.post("/v1/batch", json=batch(click, bought, unrelated)).status_code == 200
    server.wait_pipeline()

    report = admin.get(
        "/v1/audit/fairness", params={"placement": "careers", "attribute": "traits.gender"}
    ).json()
    gender = report["attributes"][0]
    assert gender["audience"] == {"f": 2, "m": 3}
    offer = next(e for e in gender["shown"] if e["what"] == "job-offer")
    groups = {g["group"]: g for g in offer["exposure"]["groups"]}
    m, f = groups["m"], groups["f"]
    assert (m["shown"], m["audience"], f["shown"], f["audience"]) == (2, 3, 1, 2)
    assert offer["exposure"]["reference"] == "m"
    assert m["rate"]["estimate"] == pytest.approx(2 / 3, abs=1e-6)
    low, high = _wilson(2, 3)
    assert (m["rate"]["low"], m["rate"]["high"]) == (
        pytest.approx(low, abs=1e-6),
        pytest.approx(high, abs=1e-6),
    )
    # share of exposures / share of audience
    assert f["exposure_ratio"] == pytest.approx((1 / 3) / (2 / 5), abs=1e-6)
    assert m["exposure_ratio"] == pytest.approx((2 / 3) / (3 / 5), abs=1e-6)
    assert f["ratio_to_reference"] == pytest.approx(0.75, abs=1e-6)
    # Newcombe's hybrid score interval of 1/2 - 2/3
    (l1, u1), (l2, u2) = _wilson(1, 2), _wilson(2, 3)
    d = 1 / 2 - 2 / 3
    assert f["difference"]["estimate"] == pytest.approx(d, abs=1e-6)
    assert f["difference"]["low"] == pytest.approx(
        d - math.sqrt((0.5 - l1) ** 2 + (u2 - 2 / 3) ** 2), abs=1e-6
    )
    assert f["difference"]["high"] == pytest.approx(
        d + math.sqrt((u1 - 0.5) ** 2 + (2 / 3 - l2) ** 2), abs=1e-6
    )
    # under four fifths, but within chance on five people: no alert
    assert offer["exposure"]["alert"] is False
    assert report["alert"] is False
    clicks = {g["group"]: g for g in offer["clicks"]["groups"]}
    assert (clicks["m"]["shown"], clicks["m"]["audience"]) == (1, 2)
    assert (clicks["f"]["shown"], clicks["f"]["audience"]) == (0, 1)
    bought_rates = {g["group"]: g for g in offer["conversions"]["groups"]}
    assert (bought_rates["f"]["shown"], bought_rates["f"]["audience"]) == (1, 1)
    assert (bought_rates["m"]["shown"], bought_rates["m"]["audience"]) == (0, 2)
    plain = next(e for e in gender["shown"] if e["what"] == "plain")
    assert sum(g["shown"] for g in plain["conversions"]["groups"]) == 0


def test_requests_the_audit_refuses(server: LiveServer, admin: httpx.Client, client: httpx.Client) -> None:
    assert admin.get("/v1/audit/fairness", params={"placement": "nope"}).json()["error"]["code"] == (
        "decisions.placement_not_found"
    )
    both = admin.get("/v1/audit/fairness", params={"placement": "a", "segment": "b"})
    assert (both.status_code, both.json()["error"]["code"]) == (422, "audit.invalid_request")
    undeclared = admin.get("/v1/audit/fairness", params={"placement": "a", "attribute": "traits.plan"})
    assert (undeclared.status_code, undeclared.json()["error"]["code"]) == (
        422,
        "audit.attribute_not_declared",
    )
    assert client.get("/v1/audit/fairness", params={"placement": "a"}).status_code in (401, 403)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the CLI: one store is enough
def test_the_cli_writes_a_report_with_a_plot(
    server: LiveServer,
    client: httpx.Client,
    admin: httpx.Client,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surmesure.cli import app

    assert (
        admin.put(
            "/v1/placements/careers", json=careers({"field": "traits.interest", "eq": "cars"})
        ).status_code
        == 200
    )
    spec = [(f"m{i}", "M", "cars") for i in range(6)] + [(f"w{i}", "F", "knits") for i in range(6)]
    people(server, client, spec)
    decide_all(admin, [uid for uid, _, _ in spec])
    monkeypatch.setenv("SURMESURE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SURMESURE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SURMESURE_STORE__URL", settings.store_url)
    monkeypatch.setenv("SURMESURE_IDENTITY__HASH_KEY", "test-identity-hash-key")
    monkeypatch.setenv("SURMESURE_AUDIT__PROTECTED", '["traits.gender"]')
    monkeypatch.setenv("SURMESURE_AUDIT__MIN_GROUP", "2")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["audit", "fairness", "--placement", "careers", "--out", str(out)])
    assert result.exit_code == 1, result.output  # an alert
    text = out.read_text(encoding="utf-8")
    assert "Fairness audit" in text
    assert "<svg" in text
    assert "ALERT" in text
    assert "0 of 6" in text


def test_an_experiment_is_audited_by_arm(
    server: LiveServer, client: httpx.Client, admin: httpx.Client
) -> None:
    assert (
        admin.put("/v1/placements/careers", json=careers({"field": "traits.interest", "eq": "x"})).status_code
        == 200
    )
    experiment = {
        "placement": "careers",
        "arms": [{"name": "a", "variant": "job-offer"}, {"name": "b", "variant": "plain"}],
    }
    assert admin.put("/v1/experiments/offer-test", json=experiment).status_code == 200
    spec = [(f"m{i}", "M", "y") for i in range(8)] + [(f"w{i}", "F", "y") for i in range(8)]
    people(server, client, spec)
    shown = decide_all(admin, [uid for uid, _, _ in spec])
    report = admin.get(
        "/v1/audit/fairness", params={"experiment": "offer-test", "attribute": "traits.gender"}
    ).json()
    assert report["subject"] == {"kind": "experiment", "id": "offer-test"}
    gender = report["attributes"][0]
    assert gender["audience"] == {"f": 8, "m": 8}
    arms = {e["what"]: e for e in gender["shown"]}
    assert set(arms) <= {"a", "b"}
    for arm, entry in arms.items():
        expected = {
            g: sum(
                1
                for uid, d in shown.items()
                if d["experiment"]["arm"] == arm and uid[0] == {"f": "w", "m": "m"}[g]
            )
            for g in ("f", "m")
        }
        assert {g["group"]: g["shown"] for g in entry["exposure"]["groups"]} == expected
    assert admin.get("/v1/audit/fairness", params={"experiment": "nope"}).json()["error"]["code"] == (
        "decisions.experiment_not_found"
    )
