"""The store file itself: created by the migrations, in WAL mode, upgradable."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from feedhub.core.errors import StoreError
from feedhub.store.facade import Store
from feedhub.store.schema import entries, metadata


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


def test_candidate_keys_are_clustered_by_key_and_kept_by_the_upgrade(tmp_path: Path) -> None:
    # On SQLite the key table is WITHOUT ROWID (one b-tree to insert into, not two); a
    # store filed before that migration keeps its keys through it.
    from alembic import command

    from feedhub.store.engine import create_store_engine

    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    config = AlembicConfig()
    config.set_main_option("script_location", str(files("feedhub.store") / "migrations"))
    engine = create_store_engine(url)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008_neardup")
        connection.exec_driver_sql(
            "INSERT INTO sources (id, url, name, active, health, permanent_redirects, failures)"
            " VALUES (1, 'https://a.example/feed', 'a', 1, 'ok', 0, 0)"
        )
        stored_at = datetime(2024, 1, 1, tzinfo=UTC)
        connection.execute(
            entries.insert().values(
                id=1,
                uid="u1",
                source_id=1,
                key="k1",
                title="A",
                content_hash="h",
                updated=stored_at,
                first_seen=stored_at,
                sort_time=stored_at,
            )
        )
        connection.exec_driver_sql(
            "INSERT INTO neardup_keys (band_key, entry_id) VALUES (-5, 1), (7, 1)"
        )
        connection.commit()
    engine.dispose()
    store = Store.open(url)
    try:
        with store.engine.connect() as connection:
            table_sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'neardup_keys'"
            ).scalar_one()
            keys = connection.exec_driver_sql("SELECT band_key, entry_id FROM neardup_keys")
            assert sorted(tuple(row) for row in keys) == [(-5, 1), (7, 1)]
    finally:
        store.close()
    assert "WITHOUT ROWID" in table_sql
