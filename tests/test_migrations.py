"""The migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

import pkgutil
from importlib import import_module

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import surmesure
from surmesure import db


def _declared() -> sa.MetaData:
    for module in pkgutil.walk_packages(surmesure.__path__, "surmesure."):
        if module.name.endswith(".store"):
            import_module(module.name)
    return db.metadata


def test_migrations_match_the_declared_tables(store_url: str) -> None:
    engine = db.create_engine(store_url)
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), _declared())
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_harmless(store_url: str) -> None:
    engine = db.create_engine(store_url)
    db.upgrade(engine)
    db.upgrade(engine)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert {"events", "event_quarantine", "profiles", "identifiers", "items"} <= tables
