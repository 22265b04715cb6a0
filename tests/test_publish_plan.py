"""Queries whose cost must not grow with the store: publishing reads a category's newest
entries off the (category, sort_time) index from its newest end, and storing a poll finds
its articles by canonical link (timings are in benchmarks/growth.py)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from feedhub.store.facade import Store
from feedhub.store.known import primaries_query
from feedhub.store.published import latest_entries_query


def plan(store: Store, query: sa.Select[object]) -> list[str]:
    with store.reading() as connection:
        sql = query.compile(connection, compile_kwargs={"literal_binds": True})
        return [str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]


def test_a_categorys_newest_entries_come_off_its_index_without_sorting(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    try:
        steps = plan(store, latest_entries_query("world", 50))
    finally:
        store.close()
    assert any(
        "entry_categories" in step and "ix_entry_categories_recent" in step for step in steps
    )
    assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in steps), steps


def test_the_per_source_cap_reads_a_bounded_slice_of_the_index(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    try:
        steps = plan(store, latest_entries_query("world", 50, max_per_source=3))
    finally:
        store.close()
    scans = [step for step in steps if "entry_categories" in step]
    assert scans, steps
    assert all("ix_entry_categories_recent" in step for step in scans), steps


def test_finding_an_articles_primary_reads_the_canonical_link_index(tmp_path: Path) -> None:
    # Storing a poll looks its articles up by canonical link: it must not walk the table
    # (through the duplicate_of index, as SQLite without statistics would for IS NULL).
    store = Store.open(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    try:
        steps = plan(store, primaries_query(["news.example/a", "news.example/b"]))
    finally:
        store.close()
    lookups = [step for step in steps if " entries " in f"{step} "]
    assert lookups, steps
    assert all("ix_entries_canonical_link" in step for step in lookups), steps
