"""docs/errors.md lists every stable error code, with the HTTP status and CLI exit code
the code really has.

Codes come from two places: every :class:`~surmesure.errors.SurmesureError` subclass
(found with ``all_error_classes()`` once every module is imported), and the string
codes that are not classes — the per-item quarantine codes built in
``events/domain.py``, the codes ``events/api.py`` writes to the quarantine table and
``app.py``'s ``internal.error`` — read from the source with ``ast``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections import defaultdict
from pathlib import Path

import surmesure
from surmesure.errors import SurmesureError, all_error_classes

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "surmesure"
DOC = ROOT / "docs" / "errors.md"

_CODE = re.compile(r"^[a-z]+\.[a-z_]+$")
#: a table row of the doc: | `code` | status | exit | ...
_ROW = re.compile(r"^\|\s*`(?P<code>[a-z]+\.[a-z_]+)`\s*\|\s*(?P<status>[^|]*?)\s*\|\s*(?P<exit>[^|]*?)\s*\|")


def _import_everything() -> list[str]:
    names = [
        m.name
        for m in pkgutil.walk_packages(surmesure.__path__, "surmesure.")
        if not m.name.startswith("surmesure.migrations")
    ]
    for name in names:
        importlib.import_module(name)
    return names


def error_classes() -> list[type[SurmesureError]]:
    _import_everything()
    return all_error_classes()


def _string_codes(path: Path, prefixes: tuple[str, ...]) -> set[str]:
    """String literals of ``path`` that look like a code and start with one of ``prefixes``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(prefixes)
        and _CODE.match(node.value)
    }


def quarantine_codes() -> set[str]:
    """Per-item codes of events/domain.py, and request-level codes events/api.py stores."""
    return _string_codes(SRC / "events" / "domain.py", ("events.",)) | _string_codes(
        SRC / "events" / "api.py", ("events.", "request.")
    )


def other_codes() -> set[str]:
    return _string_codes(SRC / "app.py", ("internal.",))


def documented() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line.strip())
        if match:
            assert match["code"] not in rows, f"{match['code']} has two rows in docs/errors.md"
            rows[match["code"]] = (match["status"], match["exit"])
    return rows


def test_every_module_is_imported_before_collecting() -> None:
    names = _import_everything()
    assert "surmesure.events.api" in names
    assert "surmesure.profiles.service" in names
    assert "surmesure.catalog.errors" in names


def test_the_source_scan_finds_the_quarantine_codes() -> None:
    codes = quarantine_codes()
    for code in (
        "events.invalid_event",
        "events.unknown_type",
        "events.missing_identity",
        "request.malformed_json",
    ):
        assert code in codes
    assert "internal.error" in other_codes()


def test_every_error_class_code_is_documented_with_its_status_and_exit_code() -> None:
    rows = documented()
    missing = sorted({cls.code for cls in error_classes()} - set(rows))
    assert not missing, f"codes missing from docs/errors.md (add a row to a table): {missing}"
    wrong = [
        f"{cls.code}: documented {rows[cls.code]}, the code says ({cls.http_status}, {cls.exit_code})"
        for cls in error_classes()
        if rows[cls.code] != (str(cls.http_status), str(cls.exit_code))
    ]
    assert not wrong, "docs/errors.md disagrees with the code:\n" + "\n".join(wrong)


def test_every_quarantine_and_internal_code_is_documented() -> None:
    missing = sorted((quarantine_codes() | other_codes()) - set(documented()))
    assert not missing, f"codes missing from docs/errors.md: {missing}"


def test_the_doc_lists_no_code_that_does_not_exist() -> None:
    known = {cls.code for cls in error_classes()} | quarantine_codes() | other_codes()
    stale = sorted(set(documented()) - known)
    assert not stale, f"docs/errors.md lists codes nothing produces any more: {stale}"


def test_no_two_error_classes_share_a_code_with_different_statuses() -> None:
    by_code: dict[str, set[tuple[int, int]]] = defaultdict(set)
    owners: dict[str, list[str]] = defaultdict(list)
    for cls in error_classes():
        by_code[cls.code].add((cls.http_status, cls.exit_code))
        owners[cls.code].append(f"{cls.__module__}.{cls.__qualname__}")
    clashes = {code: sorted(owners[code]) for code, statuses in by_code.items() if len(statuses) > 1}
    assert not clashes, f"one code, several statuses: {clashes}"


def test_codes_follow_the_naming_rule() -> None:
    bad = sorted(f"{cls.__qualname__}: {cls.code!r}" for cls in error_classes() if not _CODE.match(cls.code))
    assert not bad, f"codes must read '<capability>.<problem>': {bad}"
