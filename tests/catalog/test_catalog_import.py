"""Importing catalogue files (CSV, JSON lines, JSON arrays) on SQLite and PostgreSQL:
every record is either in the store or reported with its line number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from surmesure import db
from surmesure.catalog import service
from surmesure.catalog.errors import (
    ImportFileNotFound,
    InvalidImportFile,
    UnsupportedImportFormat,
)
from surmesure.catalog.service import ImportProgress, ImportReport

HEADER = (
    "id,type,title,url,image,price,currency,category_path,brand,tags,keywords,language,stock,"
    "available,published_at,color\n"
)


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = db.create_engine(store_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def rejected_lines(report: ImportReport) -> dict[int, str]:
    return {r.line: r.reason for r in report.rejected}


def test_csv_imports_good_rows_and_reports_bad_ones_by_line(engine: sa.Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.csv",
        HEADER
        # line 2
        + "m1,product,Mug,https://s.example/m1,,9.90,eur,Home > Kitchen,Acme,gift|ceramic,mug|cup,fr,3,,"
        + "2024-01-02,red\n"
        + "m2,product,,,,1,EUR,,,,,,,,,\n"  # 3: no title
        + "m3,product,Plate,,,-4,EUR,Home|Kitchen,,,,,,,,blue\n"  # 4: negative price
        + 'a1,article,"A title\nover two lines",,,,,Blog/Recipes,,,,en,,,,\n'  # 5-6
        + "\n"  # 7: blank, skipped
        + "o1,offer,Deal,,,5,EUR,,,,,,0,true,,green\n"  # 8
        + "x1,gadget,Thing,,,,,,,,,,,,,\n"  # 9: unknown type
        + "x2,product,Too many,,,,,,,,,,,,,,extra\n"  # 10: 17 cells
        + "m1,product,Mug v2,,,12,EUR,,,,,,,,,\n",  # 11: same id again: last wins
    )
    report = service.import_file(engine, path)

    assert report.format == "csv"
    assert report.records == 8
    assert report.imported == 4
    assert (report.created, report.updated) == (3, 1)
    assert sorted(rejected_lines(report)) == [3, 4, 9, 10]
    reasons = rejected_lines(report)
    assert reasons[3].startswith("title:")
    assert reasons[4].startswith("price:")
    assert reasons[9].startswith("type:")
    assert "17 cells" in reasons[10]
    assert {r.line: r.item_id for r in report.rejected}[4] == "m3"
    assert report.duration_s >= 0
    assert service.count_items(engine) == 3

    mug = service.get_item(engine, "m1")
    assert mug.title == "Mug v2"  # the later line won
    assert mug.price == 12
    assert mug.tags == []

    article = service.get_item(engine, "a1")
    assert article.title == "A title\nover two lines"
    assert article.category_path == ["Blog", "Recipes"]
    assert article.language == "en"

    offer = service.get_item(engine, "o1")
    assert offer.stock == 0
    assert offer.available is True  # explicit beats the stock default
    assert offer.attributes == {"color": "green"}


def test_csv_list_columns_and_attributes(engine: sa.Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.csv",
        "\ufeffID , Title,tags,keywords,category_path,material,attributes,empty\n"
        'k1,Kettle, steel | kitchen |steel,boil|tea,Home|Kitchen|Kettles,steel,"{""watts"": 2000}",\n',
    )
    report = service.import_file(engine, path)
    assert report.ok, report.rejected
    kettle = service.get_item(engine, "k1")
    assert kettle.tags == ["steel", "kitchen"]
    assert kettle.keywords == ["boil", "tea"]
    assert kettle.category_path == ["Home", "Kitchen", "Kettles"]
    assert kettle.category == "Kettles"
    assert kettle.attributes == {"material": "steel", "watts": 2000}


def test_csv_with_invalid_utf8_line_is_reported(engine: sa.Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "items.csv", b"id,title\nu1,Caf\xe9\nu2,Cafe\n")
    report = service.import_file(engine, path)
    assert rejected_lines(report) == {2: "the line is not valid UTF-8"}
    assert report.imported == 1
    assert service.count_items(engine) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("id,price\n1,2\n", "missing title"),
        ("id,title,Title\n1,a,b\n", "repeats the columns title"),
        ("id,title,\n1,a,b\n", "without a name"),
    ],
)
def test_csv_header_problems_refuse_the_file(
    engine: sa.Engine, tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / "items.csv", text)
    with pytest.raises(InvalidImportFile, match=message):
        service.import_file(engine, path)
    assert service.count_items(engine) == 0


def test_jsonl_reports_each_bad_line(engine: sa.Engine, tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "j1", "title": "One", "category_path": "A > B"}),  # 1 (after a BOM)
        "",  # 2: blank
        "{not json",  # 3
        json.dumps([{"id": "j2", "title": "Two"}]),  # 4: not an object
        json.dumps({"id": "j3", "title": "Three", "created_ms": 0}),  # 5: unknown field
        json.dumps({"id": "j4", "title": "Four", "price": 3, "currency": "usd"}),  # 6
        json.dumps({"id": "j5", "title": "Five", "stock": "many"}),  # 7
    ]
    path = write(tmp_path / "items.jsonl", "\ufeff" + "\n".join(lines) + "\n")
    report = service.import_file(engine, path)

    assert report.format == "jsonl"
    assert report.records == 6
    assert report.imported == 2
    reasons = rejected_lines(report)
    assert sorted(reasons) == [3, 4, 5, 7]
    assert reasons[3].startswith("not valid JSON")
    assert reasons[4] == "each line must be a JSON object (one item)"
    assert reasons[5].startswith("created_ms: unknown field")
    assert reasons[7].startswith("stock:")
    assert {r.line: r.item_id for r in report.rejected}[5] == "j3"
    assert service.get_item(engine, "j1").category_path == ["A", "B"]
    assert service.get_item(engine, "j4").currency == "USD"
    assert service.count_items(engine) == 2


def test_json_array_reports_line_numbers(engine: sa.Engine, tmp_path: Path) -> None:
    text = (
        "[\n"
        '  {"id": "a", "title": "A"},\n'
        '  {"id": "b",\n'  # line 3
        '   "title": ""},\n'
        "  7,\n"  # line 5
        '  {"id": "c", "title": "C"}\n'
        "]\n"
    )
    report = service.import_file(engine, write(tmp_path / "items.json", text))
    assert report.format == "json"
    assert report.imported == 2
    assert sorted(rejected_lines(report)) == [3, 5]
    assert rejected_lines(report)[5].startswith("each element")
    assert sorted(p.id for p in service.list_items(engine).items) == ["a", "c"]


def test_truncated_json_array_reports_the_unread_rest(engine: sa.Engine, tmp_path: Path) -> None:
    text = '[{"id": "a", "title": "A"},\n{"id": "b", "title": \n'
    report = service.import_file(engine, write(tmp_path / "items.json", text))
    assert report.imported == 1
    [rejection] = report.rejected
    assert rejection.line == 2
    assert "rest of the file was not read" in rejection.reason


def test_json_file_of_lines_is_read_as_json_lines(engine: sa.Engine, tmp_path: Path) -> None:
    text = '{"id": "a", "title": "A"}\n{"id": "b", "title": "B"}\n'
    report = service.import_file(engine, write(tmp_path / "items.json", text))
    assert (report.imported, report.rejected) == (2, [])


def test_format_is_guessed_or_given(engine: sa.Engine, tmp_path: Path) -> None:
    line = '{"id": "a", "title": "A"}\n'
    assert service.import_file(engine, write(tmp_path / "x.ndjson", line)).format == "jsonl"
    assert service.import_file(engine, write(tmp_path / "x.txt", line), format="jsonl").imported == 1
    with pytest.raises(UnsupportedImportFormat):
        service.import_file(engine, tmp_path / "x.txt")
    with pytest.raises(UnsupportedImportFormat):
        service.import_file(engine, tmp_path / "x.txt", format="xml")
    with pytest.raises(ImportFileNotFound):
        service.import_file(engine, tmp_path / "missing.csv")


def test_large_file_is_committed_in_chunks_and_nothing_accepted_is_lost(
    engine: sa.Engine, tmp_path: Path
) -> None:
    rows = ["id,title,price"]
    bad_lines: list[int] = []
    for n in range(1203):
        if n % 100 == 7:
            rows.append(f"i{n},Item {n},-1")
            bad_lines.append(n + 2)  # header is line 1
        else:
            rows.append(f"i{n},Item {n},{n}")
    path = write(tmp_path / "big.csv", "\n".join(rows) + "\n")
    progress: list[ImportProgress] = []

    report = service.import_file(engine, path, on_progress=progress.append)

    assert report.records == 1203
    assert [r.line for r in report.rejected] == bad_lines
    assert report.imported == 1203 - len(bad_lines)
    assert service.count_items(engine) == report.imported
    assert service.get_item(engine, "i1202").price == 1202
    # one report per chunk of 500 records, then the end
    assert [p.records for p in progress] == [500, 1000, 1203]
    assert [p.bytes_read for p in progress] == sorted(p.bytes_read for p in progress)
    assert progress[-1].bytes_read == progress[-1].bytes_total == path.stat().st_size
    assert progress[-1].imported == report.imported
    assert progress[-1].rejected == len(bad_lines)


def test_reimport_updates_and_keeps_created(engine: sa.Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "items.jsonl", '{"id": "a", "title": "A"}\n{"id": "b", "title": "B"}\n')
    first = service.import_file(engine, path)
    created_at = service.get_item(engine, "a").created_at
    second = service.import_file(engine, path)
    assert (first.created, first.updated) == (2, 0)
    assert (second.created, second.updated) == (0, 2)
    assert service.get_item(engine, "a").created_at == created_at


def test_rejections_keep_the_raw_id_when_the_row_is_unreadable(engine: sa.Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "items.jsonl", orjson.dumps({"id": 5, "title": "x" * 1001}) + b"\n")
    [rejection] = service.import_file(engine, path).rejected
    assert (rejection.line, rejection.item_id) == (1, "5")
    assert rejection.reason.startswith("title:")
