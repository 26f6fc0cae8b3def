"""The decision log's group commit, on both stores: concurrent decisions share
transactions, every row and first exposure is written before its request returns, and
a bad row fails only its own request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from surmesure import db
from surmesure.decisions import store
from surmesure.decisions.log import DecisionLog


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = db.create_engine(store_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def _row(i: int, decision_id: str | None = None) -> dict[str, Any]:
    return {
        "decision_id": decision_id or f"d{i:05d}", "at_ms": i, "placement_id": "p", "channel": "web",
        "person": f"anonymous_id:v{i}", "profile_id": None, "experiment_id": "e", "arm": "a",
        "variant": "x", "propensity": 0.5, "personalized": False, "suppressed": None, "reason": "r",
        "bandit": {"probabilities": {"a": 0.5, "b": 0.5}} if i % 2 else None,
    }  # fmt: skip


def test_concurrent_decisions_share_transactions_and_are_all_written(engine: sa.Engine) -> None:
    log = DecisionLog(engine)
    commits = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))
    barrier = threading.Barrier(24)
    seen_after_return: list[bool] = []

    def decide(t: int) -> None:
        barrier.wait()
        for k in range(10):
            i = t * 10 + k
            exposure = ("e", [f"anonymous_id:v{i}"], {"arm": "a", "at_ms": i, "decision_id": f"d{i:05d}",
                                                       "propensity": 0.5})  # fmt: skip
            log.write(_row(i), exposure)
            with engine.connect() as conn:  # read your write: committed before returning
                seen_after_return.append(bool(store.exposures_of(conn, "e", [f"anonymous_id:v{i}"])))

    threads = [threading.Thread(target=decide, args=(t,)) for t in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.decisions)).all()
        exposures = conn.execute(sa.select(sa.func.count()).select_from(store.exposures)).scalar_one()
    assert len(rows) == 240
    assert exposures == 240
    assert len(seen_after_return) == 240
    assert all(seen_after_return)
    assert {r.bandit["probabilities"]["a"] for r in rows if r.bandit} == {0.5}
    assert len(commits) < 240  # shared: fewer transactions than decisions


def test_a_bad_row_fails_only_its_own_request(engine: sa.Engine) -> None:
    log = DecisionLog(engine)
    log.write(_row(1))
    errors: dict[int, BaseException] = {}

    def decide(i: int) -> None:
        barrier.wait()
        try:
            log.write(_row(i, "d00001" if i == 5 else None))  # i == 5 reuses a decision id
        except Exception as error:
            errors[i] = error

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(10, 18)]
    threads.append(threading.Thread(target=decide, args=(5,)))
    barrier = threading.Barrier(len(threads))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert list(errors) == [5]
    assert isinstance(errors[5], sa.exc.IntegrityError)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(store.decisions.c.decision_id)).scalars())
    assert ids == {"d00001"} | {f"d{i:05d}" for i in range(10, 18)}
