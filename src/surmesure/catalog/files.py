"""Reading catalogue files record by record: CSV, JSON lines, a JSON array.

Each reader yields :class:`Record` values: the raw item (a dict for :class:`ItemIn`)
with the line it starts on, or the reason it could not be read. Nothing is dropped
without a record saying so. CSV and JSON lines are streamed; a JSON array is read
whole (use JSON lines for large files). ``bytes_read`` follows the file for progress.

CSV: a header row; the columns named like :data:`~surmesure.catalog.domain.ITEM_FIELDS`
are the item's fields (``tags``, ``keywords`` and ``category_path`` split on ``|``;
``attributes`` holds a JSON object); every other non-empty cell becomes an attribute
(a string). Empty cells are absent values.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from surmesure.catalog.domain import ITEM_FIELDS
from surmesure.catalog.errors import ImportFileNotFound, InvalidImportFile, UnsupportedImportFormat

__all__ = ["FORMATS", "Format", "Record", "RecordReader", "guess_format"]

Format = Literal["csv", "jsonl", "json"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "json")
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
_LIST_COLUMNS = frozenset({"tags", "keywords"})
_MAX_LINE_BYTES = 1024 * 1024
_REQUIRED_COLUMNS = ("id", "title")


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a file: ``data`` to validate, or ``error`` when it is unreadable."""

    line: int
    data: dict[str, Any] | None = None
    error: str | None = None

    @property
    def item_id(self) -> str | None:
        value = self.data.get("id") if self.data else None
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def guess_format(path: Path, format: str | None = None) -> Format:
    """``format`` if given, else from the suffix (.csv, .jsonl, .ndjson, .json)."""
    chosen = format.lower() if format else _SUFFIXES.get(path.suffix.lower())
    if chosen not in FORMATS:
        given = f"format {format!r}" if format else f"the suffix {path.suffix!r}"
        raise UnsupportedImportFormat(
            f"cannot import {given}: use .csv, .jsonl/.ndjson or .json, or pass the format",
            formats=list(FORMATS),
        )
    return chosen  # type: ignore[return-value]


class RecordReader:
    """Iterate the records of ``path``; ``bytes_read`` / ``bytes_total`` for progress."""

    def __init__(self, path: Path, format: Format) -> None:
        if not path.is_file():
            raise ImportFileNotFound(f"no such file: {path}", path=str(path))
        self.path = path
        self.format = format
        self.bytes_total = path.stat().st_size
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Record]:
        with self.path.open("rb") as handle:
            if self.format == "csv":
                yield from self._csv(handle)
            elif self.format == "json" and _starts_with_bracket(handle):
                yield from self._json_array(handle)
            else:
                yield from self._json_lines(handle)

    # -- JSON lines ----------------------------------------------------------------------

    def _json_lines(self, handle: IO[bytes]) -> Iterator[Record]:
        for number, raw in enumerate(handle, start=1):
            self.bytes_read += len(raw)
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            if len(raw) > _MAX_LINE_BYTES:
                yield Record(number, error=f"the line is {len(raw)} bytes; at most {_MAX_LINE_BYTES}")
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                yield Record(number, error=f"not valid JSON: {error}")
                continue
            if not isinstance(value, dict):
                yield Record(number, error="each line must be a JSON object (one item)")
                continue
            yield Record(number, data=value)

    # -- a JSON array ----------------------------------------------------------------------

    def _json_array(self, handle: IO[bytes]) -> Iterator[Record]:
        raw = handle.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InvalidImportFile(f"{self.path} is not UTF-8: {error}") from None
        decoder = json.JSONDecoder(parse_constant=_refuse_constant)
        position = text.index("[") + 1
        line = 1 + text.count("\n", 0, position)
        scale = self.bytes_total / max(len(text), 1)
        while True:
            start = _skip_space(text, position)
            line += text.count("\n", position, start)
            position = start
            if position >= len(text):
                yield Record(line, error="the file ends before the closing ]: the array is cut short")
                return
            if text[position] == "]":
                self.bytes_read = self.bytes_total
                return
            try:
                value, end = decoder.raw_decode(text, position)
            except ValueError as error:
                yield Record(line, error=f"not valid JSON ({error}); the rest of the file was not read")
                return
            self.bytes_read = int(end * scale)
            if isinstance(value, dict):
                yield Record(line, data=value)
            else:
                yield Record(line, error="each element of the array must be a JSON object (one item)")
            after = _skip_space(text, end)
            line += text.count("\n", position, after)
            position = after
            if position < len(text) and text[position] == ",":
                position += 1
            elif position >= len(text) or text[position] != "]":
                yield Record(line, error="expected , or ] after an item; the rest of the file was not read")
                return

    # -- CSV ----------------------------------------------------------------------------

    def _csv(self, handle: IO[bytes]) -> Iterator[Record]:
        bad_lines: set[int] = set()
        reader = csv.reader(self._decoded_lines(handle, bad_lines))
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidImportFile(f"{self.path} is empty: a CSV needs a header row") from None
        except csv.Error as error:
            raise InvalidImportFile(f"the CSV header cannot be read: {error}") from None
        columns = _columns(header)
        last_line = reader.line_num
        while True:
            start = last_line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                last_line = reader.line_num
                yield Record(start, error=f"the CSV cannot be read here: {error}")
                continue
            last_line = reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if bad_lines.intersection(range(start, last_line + 1)):
                yield Record(start, error="the line is not valid UTF-8")
            elif len(cells) != len(columns):
                yield Record(start, error=f"{len(cells)} cells but the header has {len(columns)} columns")
            else:
                yield _csv_record(start, columns, cells)

    def _decoded_lines(self, handle: IO[bytes], bad_lines: set[int]) -> Iterator[str]:
        for number, raw in enumerate(handle, start=1):
            self.bytes_read += len(raw)
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                bad_lines.add(number)
                yield raw.decode("utf-8", "replace")


def _columns(header: list[str]) -> list[str]:
    """Header names, stripped; the item fields matched case-insensitively."""
    fields = set(ITEM_FIELDS)
    columns = [name.strip().lower() if name.strip().lower() in fields else name.strip() for name in header]
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise InvalidImportFile(f"the CSV header repeats the columns {', '.join(duplicates)}")
    missing = [name for name in _REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise InvalidImportFile(
            f"the CSV header must have the columns {', '.join(_REQUIRED_COLUMNS)}; "
            f"missing {', '.join(missing)} (found: {', '.join(columns)})"
        )
    if any(not name for name in columns):
        raise InvalidImportFile("the CSV header has a column without a name")
    return columns


def _csv_record(line: int, columns: list[str], cells: list[str]) -> Record:
    fields = set(ITEM_FIELDS)
    data: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, cell in zip(columns, cells, strict=True):
        if not cell.strip():
            continue
        if name == "attributes":
            try:
                parsed = orjson.loads(cell)
            except orjson.JSONDecodeError as error:
                return Record(line, error=f"attributes: not valid JSON: {error}")
            if not isinstance(parsed, dict):
                return Record(line, error="attributes: must be a JSON object")
            attributes = {**parsed, **attributes}
        elif name in _LIST_COLUMNS:
            data[name] = cell.split("|")
        elif name == "category_path":
            data[name] = cell.split("|") if "|" in cell else cell
        elif name in fields:
            data[name] = cell
        else:
            attributes[name] = cell
    if attributes:
        data["attributes"] = attributes
    return Record(line, data=data)


def _starts_with_bracket(handle: IO[bytes]) -> bool:
    head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    handle.seek(0)
    return head.startswith(b"[")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
