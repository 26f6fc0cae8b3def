"""The store: engine construction, shared metadata, portable column types, migrations.

SQLite (WAL) is the embedded default; PostgreSQL is reached through psycopg 3.
Each capability declares its tables in its own ``store.py`` on :data:`metadata`;
schema changes ship as Alembic migrations in ``surmesure/migrations``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy timeout alone
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "BigId",
    "JsonText",
    "create_engine",
    "dialect_insert",
    "dumps",
    "fetch",
    "insert_ignore",
    "is_sqlite",
    "loads",
    "marks",
    "metadata",
    "named_lock",
    "scrub",
    "sqlite_path",
    "upgrade",
    "upsert_rows",
    "writing",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: An auto-incrementing 64-bit key; on SQLite an INTEGER PRIMARY KEY (the rowid).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: str | bytes) -> Any:
    return orjson.loads(value)


class JsonText(TypeDecorator[Any]):
    """JSON stored as TEXT on every backend, (de)serialized with orjson.

    One portable type keeps the embedded and production stores on one code path;
    on PostgreSQL ad-hoc queries cast with ``column::jsonb``.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or not isinstance(value, str | bytes):
            return value
        return orjson.loads(value)


def is_sqlite(engine_or_conn: Engine | sa.Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # autocommit off in the driver; SQLAlchemy drives BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    return on_connect


def create_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout and explicit BEGIN."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=pool_size,
            max_overflow=10,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas(sqlite_synchronous))

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # pysqlite's own transaction handling is off. Readers BEGIN (deferred, lock-free);
            # writers BEGIN IMMEDIATE (see ``writing``): a deferred transaction that reads and
            # then writes cannot wait for the lock and fails at once with "database is locked".
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


class _WriteLock:
    """One SQLite file's writers, in line: this process's threads, then other processes.

    SQLite lets one writer in at a time; a writer that finds the lock taken polls for
    it with growing sleeps (1, 2, 5, 10... ms), so two busy writers (the ingestion
    writer and the pipeline worker, in two processes) lose much of their time
    sleeping past the moment the lock was released. A blocking ``flock`` on a file
    beside the database hands the lock over the moment it is released.
    """

    def __init__(self, path: Path) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._file: Any = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            if fcntl is None:
                yield
                return
            if self._file is None:
                self._file = open(self._path, "a+b")  # noqa: SIM115 - kept open for the process's life
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)


@cache
def _write_lock(database: str) -> _WriteLock:
    return _WriteLock(Path(database + "-writelock"))


def sqlite_path(engine_or_conn: Engine | sa.Connection) -> str | None:
    """The database file of an SQLite engine; None for other stores and in-memory ones."""
    if not is_sqlite(engine_or_conn):
        return None
    database = engine_or_conn.engine.url.database
    return None if not database or database == ":memory:" else _resolved(database)


@cache
def _resolved(database: str) -> str:
    # once per file: resolving a path walks the file system, and writers ask every commit
    return str(Path(database).resolve())


@contextmanager
def named_lock(engine: Engine, name: str, *, should_stop: Any, poll_s: float = 0.5) -> Iterator[bool]:
    """Hold a store-wide lock called ``name``, waiting for it; yields False if
    ``should_stop()`` turned true before it was free.

    SQLite: an ``flock`` on a file beside the database. PostgreSQL: a session advisory
    lock on a connection kept for the duration, keyed by the schema and ``name``.
    """
    path = sqlite_path(engine)
    if path is not None:
        with open(f"{path}-{name}.lock", "a+b") as handle:
            while fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if should_stop():
                        yield False
                        return
                    time.sleep(poll_s)
            try:
                yield True
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        digest = hashlib.blake2b(f"{schema}/{name}".encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            conn.rollback()
            if should_stop():
                yield False
                return
            time.sleep(poll_s)
        conn.commit()  # the lock belongs to the session and outlives the transaction
        try:
            yield True
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


@contextmanager
def writing(engine: Engine) -> Iterator[sa.Connection]:
    """``with writing(engine) as conn:`` — a transaction that will write.

    On SQLite, writers of the same file wait in line (:class:`_WriteLock`), then take
    SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``); elsewhere it is a plain
    ``engine.begin()``.
    """
    path = sqlite_path(engine)
    if path is None:
        with engine.begin() as conn:
            yield conn
        return
    with _write_lock(path).held(), engine.execution_options(sqlite_immediate=True).begin() as conn:
        yield conn


def scrub(engine: Engine, *, attempts: int = 100) -> bool:
    """Leave no bytes of deleted rows in an SQLite file: VACUUM rewrites the database
    (freed pages and cells included), then the WAL, which still holds the old pages, is
    checkpointed and truncated (retried while readers hold it). True when done; other
    stores: False (PostgreSQL's dead rows are never readable through SQL and are
    reclaimed by its autovacuum)."""
    path = sqlite_path(engine)
    if path is None:
        return False
    with _write_lock(path).held():
        raw = engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            driver.execute("VACUUM")
            for _ in range(attempts):
                busy = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if not busy:
                    return True
                time.sleep(0.05)
        finally:
            raw.close()
    return False


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT`` (SQLite and PostgreSQL alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


_PG_ROWS_PER_STATEMENT = 500


def marks(conn: sa.Connection, n: int) -> str:
    """``n`` positional placeholders in the driver's style, for ``exec_driver_sql``: the
    hot paths skip SQLAlchemy's statement compilation and parameter processing."""
    mark = "%s" if conn.dialect.paramstyle in ("format", "pyformat") else "?"
    return ", ".join([mark] * n)


def fetch(conn: sa.Connection, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of one driver-SQL read on ``conn``'s own DBAPI connection (placeholders
    of :func:`marks`): the per-request reads of serving skip SQLAlchemy's execution
    context and result objects, a fourth of the cost of ``exec_driver_sql`` for a small
    indexed lookup."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(statement, tuple(params))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def upsert_rows(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    conflict: tuple[str, ...],
    update: tuple[str, ...],
    where: str = "",
) -> None:
    """``INSERT ... ON CONFLICT (conflict) DO UPDATE SET update [WHERE where]`` of many
    rows, with values as the driver takes them (JSON columns already text).

    The bulk writes of the pipeline go through here, past SQLAlchemy's per-row work:
    on SQLite one ``executemany`` of tuples; on PostgreSQL multi-row ``VALUES`` of up to
    500 rows per statement (psycopg's executemany sends one statement per row).
    Every name comes from the table's metadata; every value is a bound parameter.
    """
    if not rows:
        return
    columns = tuple(c.name for c in table.columns if c.name in rows[0])
    values = [tuple(row[c] for c in columns) for row in rows]
    names = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' for c in conflict)
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in update)
    tail = f" ON CONFLICT ({keys}) DO UPDATE SET {sets}" + (f" WHERE {where}" if where else "")
    if conn.dialect.name == "postgresql":
        one = "(" + ", ".join("%s" for _ in columns) + ")"
        for start in range(0, len(values), _PG_ROWS_PER_STATEMENT):
            chunk = values[start : start + _PG_ROWS_PER_STATEMENT]
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES {", ".join([one] * len(chunk))}{tail}'  # noqa: S608
            conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row))
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}){tail}', values)  # noqa: S608


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision`` on ``engine``."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
