"""Export and erasure cover every table that holds a person: checked against the schema
(``db.metadata`` once every store is imported), so a new table with a person column and
no handler in ``privacy/registry.py`` fails here."""

from __future__ import annotations

import pkgutil
from importlib import import_module

import sqlalchemy as sa

import surmesure
from surmesure import db
from surmesure.privacy.domain import PERSON_COLUMNS
from surmesure.privacy.registry import HANDLERS, person_tables, uncovered


def _schema() -> sa.MetaData:
    for module in pkgutil.walk_packages(surmesure.__path__, "surmesure."):
        if module.name.endswith(".store"):
            import_module(module.name)
    return db.metadata


def test_every_table_with_a_person_column_has_an_export_and_erasure_handler() -> None:
    schema = _schema()
    assert uncovered(schema) == [], "add the table to a capability's rights module and to privacy/registry.py"
    # the declaration finds what it should: a check that finds nothing checks nothing
    assert {
        "events",
        "identifiers",
        "profiles",
        "segment_members",
        "decisions",
        "exposures",
    } <= person_tables(schema)


def test_a_new_table_with_a_person_column_and_no_handler_fails() -> None:
    schema = sa.MetaData()
    for table in _schema().tables.values():
        table.to_metadata(schema)
    for column in sorted(PERSON_COLUMNS):
        probe = sa.MetaData()
        for table in schema.tables.values():
            table.to_metadata(probe)
        sa.Table(
            "loyalty_points", probe, sa.Column("id", sa.Integer, primary_key=True), sa.Column(column, sa.Text)
        )
        assert uncovered(probe) == ["loyalty_points"], column


def test_handlers_cover_only_tables_that_exist() -> None:
    tables = set(_schema().tables)
    for handler in HANDLERS:
        assert set(handler.tables) <= tables, handler.name
