"""The store file itself: created by the migrations, in WAL mode, upgradable."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from feedhub.core.errors import StoreError
from feedhub.store.facade import Store
from feedhub.store.schema import metadata


def revisions(store: Store) -> set[str]:
    with store.engine.connect() as connection:
        return set(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def test_a_new_store_is_created_by_the_migrations_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    store = Store.open(url)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    created = revisions(store)
    store.close()
    config = AlembicConfig()
    config.set_main_option("script_location", str(files("feedhub.store") / "migrations"))
    assert created == set(ScriptDirectory.from_config(config).get_heads())
    reopened = Store.open(url)  # an up-to-date store opens without migrating again
    assert revisions(reopened) == created
    reopened.close()


def test_an_unusable_database_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as raised:
        Store.open(f"sqlite:///{tmp_path / 'not-a-db.sqlite'}")
    assert "\n" not in str(raised.value)
    assert "not-a-db.sqlite" in str(raised.value)


def test_the_schema_matches_the_migrations(database_url: str) -> None:
    store = Store.open(database_url)
    inspector = sa.inspect(store.engine)
    for table in metadata.tables.values():
        columns = {
            column["name"]: column["nullable"] for column in inspector.get_columns(table.name)
        }
        expected = {column.name: column.nullable for column in table.columns}
        assert columns == expected, table.name
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        assert {index.name for index in table.indexes} <= indexes, table.name
    store.close()


def test_an_unreachable_postgresql_is_one_clear_error() -> None:
    with pytest.raises(StoreError) as raised:
        Store.open("postgresql+psycopg://feedhub:secret@127.0.0.1:1/feedhub")
    message = str(raised.value)
    assert "\n" not in message and "secret" not in message
    assert "127.0.0.1:1" in message and "[hub] database" in message
