"""The catalogue's service and store on both backends, and its pure mapping (properties)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from surmesure import db
from surmesure.catalog import service, store
from surmesure.catalog.domain import ItemIn, from_row, parse_category_path, to_row
from surmesure.catalog.errors import InvalidItem, InvalidItemsBody, ItemNotFound, TooManyItems

from builders import item


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = db.create_engine(store_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def items(*ids: str, **fields: Any) -> list[ItemIn]:
    return [ItemIn.model_validate(item(i, **fields)) for i in ids]


def test_upsert_counts_created_and_updated(engine: sa.Engine) -> None:
    assert service.upsert_items(engine, items("a", "b"), now_ms=1000) == service.UpsertResult(2, 0)
    assert service.upsert_items(engine, items("b", "c"), now_ms=2000) == service.UpsertResult(1, 1)
    with engine.connect() as conn:
        row = store.get_item(conn, "b")
    assert row is not None
    assert (row["created_ms"], row["updated_ms"]) == (1000, 2000)


def test_repeated_id_in_one_call_keeps_the_last(engine: sa.Engine) -> None:
    batch = [*items("a", title="first"), *items("a", title="last")]
    assert service.upsert_items(engine, batch, now_ms=1) == service.UpsertResult(1, 1)
    assert service.get_item(engine, "a").title == "last"


def test_upsert_on_a_connection_never_commits(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        service.upsert_items(conn, items("a"), now_ms=1)
        assert service.count_items(conn) == 1  # visible inside the caller's transaction
        conn.rollback()
    assert service.count_items(engine) == 0
    with pytest.raises(ItemNotFound):
        service.get_item(engine, "a")


def test_empty_upsert_is_a_no_op(engine: sa.Engine) -> None:
    assert service.upsert_items(engine, [], now_ms=1) == service.UpsertResult(0, 0)


def test_parse_items_shapes_and_limits() -> None:
    assert [i.id for i in service.parse_items({"items": [item("a")]})] == ["a"]
    assert [i.id for i in service.parse_items([item("a"), item("b")])] == ["a", "b"]
    assert service.parse_items([]) == []
    with pytest.raises(InvalidItemsBody):
        service.parse_items({"items": "a"})
    with pytest.raises(TooManyItems):
        service.parse_items([item("a"), item("b")], max_items=1)
    with pytest.raises(InvalidItem) as caught:
        service.parse_items([item("a"), {"id": "b"}])
    assert caught.value.details["invalid"] == 1
    assert caught.value.details["errors"][0]["index"] == 1


def test_store_pages_cover_every_item_once(engine: sa.Engine) -> None:
    ids = [f"id-{n:03d}" for n in range(57)]
    service.upsert_items(engine, items(*ids), now_ms=1)
    seen: list[str] = []
    after: str | None = None
    while True:
        page = service.list_items(engine, limit=10, after=after)
        seen.extend(i.id for i in page.items)
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == ids


# -- pure properties -------------------------------------------------------------------

_segment = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s != "" and ">" not in s and "/" not in s
)


@given(st.lists(_segment, min_size=1, max_size=6), st.sampled_from([" > ", ">", "/", " / "]))
def test_category_path_string_round_trips(path: list[str], separator: str) -> None:
    assert parse_category_path(separator.join(path)) == path
    assert ItemIn(id="x", title="t", category_path=separator.join(path)).category_path == path


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30).map(str.strip)


@given(
    st.builds(
        ItemIn,
        id=_text.filter(bool),
        type=st.sampled_from(["product", "article", "offer"]),
        title=_text.filter(bool),
        price=st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False),
        currency=st.none() | st.sampled_from(["EUR", "USD", "JPY"]),
        category_path=st.lists(_text.filter(bool), max_size=4),
        tags=st.lists(_text.filter(bool), max_size=4, unique=True),
        stock=st.none() | st.integers(min_value=0, max_value=2**31 - 1),
        published_at=st.none()
        | st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
        attributes=st.dictionaries(
            _text, st.integers(-(2**63), 2**63 - 1) | _text | st.booleans(), max_size=3
        ),
    )
)
def test_to_row_and_from_row_keep_what_the_client_sent(sent: ItemIn) -> None:
    public = from_row(to_row(sent, now_ms=1_700_000_000_000))
    kept = sent.model_dump(exclude={"published_at"})
    assert public.model_dump(include=set(kept)) == kept
    assert public.category == (sent.category_path[-1] if sent.category_path else None)
    if sent.published_at is not None:
        assert public.published_at is not None
        assert abs((public.published_at - sent.published_at).total_seconds()) < 0.001
    assert public.available is (sent.stock is None or sent.stock > 0)


@given(
    st.dictionaries(
        st.sampled_from(["created_ms", "updated_ms", "category", "item_id"]), st.integers(), min_size=1
    )
)
def test_bookkeeping_fields_can_never_be_sent(extra: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        ItemIn.model_validate({"id": "a", "title": "t", **extra})


# -- the category filter against real SQL, with hostile names ---------------------------

_hostile = st.text(alphabet='ab",\\[]% _é', min_size=1, max_size=4).filter(lambda s: s.strip() == s)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    paths=st.lists(st.lists(_hostile, min_size=1, max_size=3), min_size=1, max_size=8),
    prefix=st.lists(_hostile, min_size=1, max_size=2),
)
def test_category_filter_is_an_exact_path_prefix(
    engine: sa.Engine, paths: list[list[str]], prefix: list[str]
) -> None:
    with engine.begin() as conn:
        conn.execute(store.items.delete())
        batch = [ItemIn(id=f"i{n}", title="t", category_path=path) for n, path in enumerate(paths)]
        service.upsert_items(conn, batch, now_ms=1)
        expected = sorted(i.id for i in batch if i.category_path[: len(prefix)] == prefix)
        found = sorted(i.id for i in service.list_items(conn, limit=100, category=prefix).items)
        assert found == expected
        assert service.count_items(conn, category=prefix) == len(expected)
