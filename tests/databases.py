"""Databases for tests: SQLite files, and throwaway schemas on the PostgreSQL server.

Each PostgreSQL test gets a schema of its own in the `test` database (selected
through the URL's `search_path` option, so subprocesses use it too) and drops it
afterwards: other engineers run the suite against the same server at the same time.
When the server is unreachable, PostgreSQL tests skip, unless
FEEDHUB_TEST_POSTGRES=1 (set by `.ci/run`), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

POSTGRES_SERVER = os.environ.get(
    "FEEDHUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


def _libpq_url(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def postgres_problem() -> str | None:
    """Why the PostgreSQL server cannot be used, or None when it can."""
    try:
        with psycopg.connect(_libpq_url(POSTGRES_SERVER), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        return f"PostgreSQL at {POSTGRES_SERVER} is unreachable: {' '.join(str(error).split())}"
    return None


def require_postgres() -> None:
    """Skip the test without a PostgreSQL server; fail instead when CI demands one."""
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("FEEDHUB_TEST_POSTGRES") == "1":
        pytest.fail(f"{problem} (FEEDHUB_TEST_POSTGRES=1 requires it)")
    pytest.skip(problem)


def _admin(statement: str) -> None:
    with psycopg.connect(_libpq_url(POSTGRES_SERVER), autocommit=True) as connection:
        connection.execute("SET lock_timeout = '20s'")
        connection.execute(statement)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh, empty schema, dropped with everything in it afterwards."""
    require_postgres()
    name = f"feedhub_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE SCHEMA "{name}"')
    try:
        # The application name marks the test's connections, subprocesses' included.
        yield (
            sa.make_url(POSTGRES_SERVER)
            .update_query_dict({"options": f"-csearch_path={name}", "application_name": name})
            .render_as_string(hide_password=False)
        )
    finally:
        # Connections a test left open would hold the server's few slots until the end of
        # the session: they are closed with the schema.
        _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE application_name = '{name}' AND pid <> pg_backend_pid()"
        )
        _admin(f'DROP SCHEMA "{name}" CASCADE')


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A new, empty database of `backend` ("sqlite" or "postgresql"), as an SQLAlchemy URL."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'feedhub.sqlite'}"
        return
    with postgres_schema() as url:
        yield url


def empty_database(url: str) -> None:
    """Throw away everything a store keeps, so the next open starts from scratch."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    schema = parsed.query["options"]
    assert isinstance(schema, str)
    name = schema.removeprefix("-csearch_path=")
    _admin(f'DROP SCHEMA "{name}" CASCADE')
    _admin(f'CREATE SCHEMA "{name}"')
