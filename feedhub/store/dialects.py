"""What differs between the store's two databases: upserts, row claims and named locks.

SQLite runs one writer at a time (feedhub's write transactions take the write
lock at BEGIN), so two writers never race there and the locks below are no-ops.
PostgreSQL runs writers concurrently, so where two workers could decide the same
thing at once, they take a transaction-scoped advisory lock on a name first
(released at COMMIT or ROLLBACK), or claim rows with `FOR UPDATE SKIP LOCKED`.
Lock names are scoped to the current schema, so hubs sharing a database in
different schemas never wait for each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

# Every lock a transaction needs is taken in one statement, in the order of the keys,
# so two transactions wanting overlapping sets can never wait for each other in a cycle.
_LOCK_NAMES = sa.text(
    "SELECT count(pg_advisory_xact_lock(lock_key)) FROM ("
    "  SELECT DISTINCT hashtextextended(current_schema() || '/' || :kind || '/' || name, 0)"
    "    AS lock_key"
    "  FROM unnest(CAST(:names AS text[])) AS name"
    "  ORDER BY lock_key"
    ") AS keys"
)


def is_postgresql(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def insert(connection: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what to do ON CONFLICT, in the connection's dialect (each
    imported when used: a store on SQLite never loads PostgreSQL's, a tenth of a second)."""
    if is_postgresql(connection):
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def lock_names(connection: Connection, kind: str, names: Iterable[str]) -> None:
    """Wait for, and hold until the transaction ends, the lock on each `kind` `name`."""
    wanted = sorted(set(names))
    if wanted and is_postgresql(connection):
        connection.execute(_LOCK_NAMES, {"kind": kind, "names": wanted})
