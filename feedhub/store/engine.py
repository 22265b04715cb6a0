"""The store's database engine: SQLite tuned for one writer at a time, PostgreSQL, and migrations.

SQLite runs in WAL mode with a busy timeout, and write transactions take the write lock
at BEGIN (`BEGIN IMMEDIATE`); the schema is created and upgraded by the alembic
migrations in `feedhub/store/migrations` when the store is opened.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from feedhub.core.text import error_line
from feedhub.store import dialects, schema_version

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


SQLITE_WAL_ATTEMPTS = 200  # 50 ms apart


SQLITE_BEGIN_ATTEMPTS = 4


def create_store_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so writes can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A checkpoint every 40 MB of WAL instead of 4 MB: a cold poll writing thousands of
    # entries checkpoints (and syncs the database file) a tenth as often.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode (which it keeps). Switching needs the file to itself, and
    SQLite answers "locked" at once, without waiting, while other processes open a new
    store at the same moment (workers starting together): so try again."""
    for attempt in range(1, SQLITE_WAL_ATTEMPTS + 1):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if attempt == SQLITE_WAL_ATTEMPTS or "locked" not in str(error):
                raise
            time.sleep(0.05)


def _sqlite_on_begin(connection: Connection) -> None:
    # A write transaction that starts as a reader and upgrades can fail with SQLITE_BUSY
    # immediately (no busy wait); taking the write lock at BEGIN avoids that.
    immediate = connection.get_execution_options().get("feedhub_write", False)
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    # Each attempt waits up to the busy timeout; a writer holding the store longer than that
    # (another process's long transaction) is waited for again, never reported as "locked".
    for attempt in range(1, SQLITE_BEGIN_ATTEMPTS + 1):
        try:
            connection.exec_driver_sql(statement)
            return
        except OperationalError as error:
            if attempt == SQLITE_BEGIN_ATTEMPTS or "locked" not in str(error.orig):
                raise
            log.warning("the store is busy; waiting for it again (attempt %d)", attempt + 1)


def upgrade_schema(engine: Engine) -> None:
    """Apply every pending migration (creating the schema on a new store)."""
    with engine.connect() as connection:
        if schema_version.is_current(connection):
            return
    # Only a store that needs migrating pays for loading alembic (see feedhub.store.schema_version).
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(schema_version.MIGRATIONS))
    heads = set(ScriptDirectory.from_config(alembic_config).get_heads())
    with engine.connect().execution_options(feedhub_write=True) as connection:
        # Workers starting together: one migrates, the others wait and find nothing to do.
        dialects.lock_names(connection, "migrations", ["schema"])
        current = set(MigrationContext.configure(connection).get_current_heads())
        if current == heads:
            connection.commit()
            return
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "heads")
        connection.commit()
    if current:
        log.info(
            "store schema upgraded from %s to %s",
            ", ".join(sorted(current)),
            ", ".join(sorted(heads)),
        )
    else:  # a new store: nothing worth a line at the default level
        log.debug("store schema created at %s", ", ".join(sorted(heads)))


def database_error_line(error: BaseException) -> str:
    if isinstance(error, OperationalError) and error.orig is not None:
        return error_line(error.orig)
    return error_line(error)


def safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)
