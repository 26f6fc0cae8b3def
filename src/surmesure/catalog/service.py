"""Use cases of the catalogue: batch upsert, reads, and file import.

Functions take an engine (they open and commit their own transaction) or a
connection (the caller's transaction; nothing is committed here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from surmesure import db
from surmesure.catalog import store
from surmesure.catalog.domain import (
    MAX_ITEMS_PER_REQUEST,
    ItemIn,
    ItemPublic,
    from_row,
    parse_category_path,
    problems,
    to_row,
)
from surmesure.catalog.errors import InvalidItem, InvalidItemsBody, ItemNotFound, TooManyItems
from surmesure.catalog.files import Record, RecordReader, guess_format
from surmesure.clock import Clock, SystemClock, utc_ms

__all__ = [
    "IMPORT_CHUNK_ROWS",
    "ImportProgress",
    "ImportReport",
    "ItemPage",
    "Rejection",
    "UpsertResult",
    "catalogue_stamp",
    "count_items",
    "get_item",
    "import_file",
    "list_items",
    "parse_items",
    "upsert_items",
]

#: rows validated and committed together by :func:`import_file`
IMPORT_CHUNK_ROWS = 500

Bind = sa.Engine | sa.Connection


@dataclass(frozen=True, slots=True)
class UpsertResult:
    created: int
    updated: int


@dataclass(frozen=True, slots=True)
class ItemPage:
    items: list[ItemPublic]
    #: pass as ``after`` for the next page; None on the last page
    next_after: str | None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record of an import file that was not imported, and why."""

    line: int
    item_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ImportProgress:
    records: int
    imported: int
    rejected: int
    bytes_read: int
    bytes_total: int


@dataclass(slots=True)
class ImportReport:
    path: str
    format: str
    #: records read (data rows of a CSV, non-blank lines of JSON lines)
    records: int = 0
    #: records validated and committed (a repeated id counts each time it is written)
    imported: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rejected


@contextmanager
def _connection(bind: Bind, *, write: bool) -> Iterator[sa.Connection]:
    if isinstance(bind, sa.Connection):
        yield bind
    elif write:
        with db.writing(bind) as conn:
            yield conn
    else:
        with bind.connect() as conn:
            yield conn


def parse_items(payload: Any, *, max_items: int = MAX_ITEMS_PER_REQUEST) -> list[ItemIn]:
    """Validate a ``PUT /v1/items`` body: ``{"items": [...]}`` or a bare array.

    All or nothing: one invalid item (or an id given twice) refuses the whole batch
    with :class:`InvalidItem`, whose details list every bad index and its problems.
    """
    if isinstance(payload, dict) and set(payload) == {"items"} and isinstance(payload["items"], list):
        raw: list[Any] = payload["items"]
    elif isinstance(payload, list):
        raw = payload
    else:
        raise InvalidItemsBody('the body must be {"items": [...]} or a JSON array of items')
    if len(raw) > max_items:
        raise TooManyItems(
            f"{len(raw)} items in one request; at most {max_items}: split them into several requests",
            limit=max_items,
            received=len(raw),
        )
    parsed: list[ItemIn] = []
    errors: list[dict[str, Any]] = []
    first_index: dict[str, int] = {}
    for index, value in enumerate(raw):
        try:
            item = ItemIn.model_validate(value)
        except ValidationError as error:
            errors.append({"index": index, "id": _raw_id(value), "problems": problems(error)})
            continue
        if item.id in first_index:
            message = f"duplicate id: also at index {first_index[item.id]}"
            errors.append({"index": index, "id": item.id, "problems": [{"field": "id", "message": message}]})
            continue
        first_index[item.id] = index
        parsed.append(item)
    if errors:
        raise InvalidItem(
            f"{len(errors)} of {len(raw)} items are invalid; the request was refused as a whole and "
            "nothing was saved: fix the items listed in details.errors and send it again",
            errors=errors,
            received=len(raw),
            invalid=len(errors),
        )
    return parsed


def _raw_id(value: Any) -> str | None:
    raw = value.get("id") if isinstance(value, dict) else None
    return str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None


def upsert_items(engine_or_conn: Bind, items: Sequence[ItemIn], now_ms: int) -> UpsertResult:
    """Create or replace ``items`` (every field; ``created`` is kept). An id repeated in
    ``items`` is written once, its last version, and counted as created then updated."""
    rows = {item.id: to_row(item, now_ms) for item in items}
    with _connection(engine_or_conn, write=True) as conn:
        created = store.upsert_items(conn, list(rows.values()))
    return UpsertResult(created=len(created), updated=len(items) - len(created))


def get_item(engine_or_conn: Bind, item_id: str) -> ItemPublic:
    """The item ``item_id``; :class:`ItemNotFound` when there is none."""
    with _connection(engine_or_conn, write=False) as conn:
        row = store.get_item(conn, item_id)
    if row is None:
        raise ItemNotFound(f"no item with id {item_id!r}", id=item_id)
    return from_row(row)


def _category(category: str | Sequence[str] | None) -> list[str] | None:
    if category is None:
        return None
    return parse_category_path(category) if isinstance(category, str) else list(category)


def list_items(
    engine_or_conn: Bind,
    *,
    limit: int = 50,
    after: str | None = None,
    type: str | None = None,
    category: str | Sequence[str] | None = None,
    available: bool | None = None,
) -> ItemPage:
    """A page of items ordered by id. ``category`` is a path prefix (``"Home > Kitchen"``
    or a list); ``available`` keeps only available (True) or unavailable (False) items."""
    with _connection(engine_or_conn, write=False) as conn:
        rows = store.list_items(
            conn,
            limit=limit + 1,
            after_id=after,
            type=type,
            category=_category(category),
            available=available,
        )
    page = [from_row(row) for row in rows[:limit]]
    next_after = page[-1].id if len(rows) > limit and page else None
    return ItemPage(items=page, next_after=next_after)


def count_items(
    engine_or_conn: Bind,
    *,
    type: str | None = None,
    category: str | Sequence[str] | None = None,
    available: bool | None = None,
) -> int:
    with _connection(engine_or_conn, write=False) as conn:
        return store.count_items(conn, type=type, category=_category(category), available=available)


def catalogue_stamp(engine_or_conn: Bind) -> tuple[int, int]:
    """A cheap fingerprint of the catalogue, ``(items, latest update ms)``: readers that
    cache items (recommendation serving) poll it to know when to reload."""
    with _connection(engine_or_conn, write=False) as conn:
        return store.stamp(conn)


def import_file(
    engine: sa.Engine,
    path: Path | str,
    *,
    format: str | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
    clock: Clock | None = None,
    chunk_rows: int = IMPORT_CHUNK_ROWS,
) -> ImportReport:
    """Import a CSV, JSON lines or JSON array file of items, committing every
    ``chunk_rows`` records.

    Every record is validated like an item of ``PUT /v1/items``; each refused one is in
    ``report.rejected`` with its line number and reason, and the others are imported
    (unlike the API, one bad line does not refuse the file). A repeated id is imported
    in file order: the last line wins. Raises :class:`UnsupportedImportFormat`,
    :class:`ImportFileNotFound` or :class:`InvalidImportFile` before importing anything.
    """
    path = Path(path)
    clock = clock or SystemClock()
    reader = RecordReader(path, guess_format(path, format))
    report = ImportReport(path=str(path), format=reader.format)
    started = time.monotonic()

    def flush(chunk: list[Record]) -> None:
        valid: list[ItemIn] = []
        for record in chunk:
            item = _validate(record, report)
            if item is not None:
                valid.append(item)
        if valid:
            result = upsert_items(engine, valid, utc_ms(clock.now()))
            report.imported += len(valid)
            report.created += result.created
            report.updated += result.updated
        if on_progress is not None:
            on_progress(
                ImportProgress(
                    records=report.records,
                    imported=report.imported,
                    rejected=len(report.rejected),
                    bytes_read=reader.bytes_read,
                    bytes_total=reader.bytes_total,
                )
            )

    chunk: list[Record] = []
    for record in reader:
        report.records += 1
        chunk.append(record)
        if len(chunk) >= chunk_rows:
            flush(chunk)
            chunk = []
    flush(chunk)
    report.duration_s = time.monotonic() - started
    return report


def _validate(record: Record, report: ImportReport) -> ItemIn | None:
    if record.error is not None:
        report.rejected.append(Rejection(record.line, record.item_id, record.error))
        return None
    try:
        return ItemIn.model_validate(record.data)
    except ValidationError as error:
        reason = "; ".join(f"{p['field']}: {p['message']}" for p in problems(error))
        report.rejected.append(Rejection(record.line, record.item_id, reason))
        return None
