"""Queries whose cost must not grow with the store: publishing reads a category's newest
entries off the (category, sort_time) index from its newest end, and storing a poll finds
its articles by canonical link (timings are in benchmarks/growth.py); storing a poll takes
as many statements for many entries as for few."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from feedhub.config.settings import SourceSettings
from feedhub.core.models import NotModified, PollResult, RoutedEntry, SourceState
from feedhub.parse.document import parse_document
from feedhub.parse.normalize import normalize_entry
from feedhub.rules import schedule
from feedhub.rules.routing import ALL
from feedhub.store.facade import Store
from feedhub.store.known import primaries_query
from feedhub.store.neardup import routed_copies_query
from feedhub.store.published import latest_entries_query
from feedhub.store.schema import entries
from tests.conftest import FakeClock
from tests.workload import rss


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


TIMING = schedule.Timing(
    interval=timedelta(minutes=30),
    min_interval=timedelta(minutes=1),
    max_interval=timedelta(days=1),
)


def not_modified(state: SourceState, at: datetime) -> PollResult:
    """What a poll of `state` answered by a 304 at `at` records."""
    answer = NotModified(url=state.url, headers={})
    return schedule.after_success(state, answer, at, TIMING, body_hash=None, feed_hint_seconds=None)


def statements(store: Store, action: Callable[[], object]) -> int:
    """How many statements `action` sends to the store's database."""
    executed: list[str] = []

    def count(*args: object) -> None:
        executed.append(str(args[2]))

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    return len(executed)


@contextmanager
def stored_sources(database_url: str, names: Sequence[str]) -> Iterator[Store]:
    """A store that knows one source per name (at http://NAME.test/feed.xml), closed after."""
    store = Store.open(database_url)
    try:
        store.sync_sources(
            [SourceSettings(url=f"http://{name}.test/feed.xml", name=name) for name in names],
            FakeClock().now,
        )
        yield store
    finally:
        store.close()


def statements_to_store(store: Store, state: SourceState, body: bytes, at: datetime) -> int:
    """How many statements storing one poll of `body` for the source takes."""
    document = parse_document(body, state.url, {"content-type": "text/xml"})
    routed = [RoutedEntry(normalize_entry(entry), frozenset({ALL})) for entry in document.entries]
    return statements(
        store, lambda: store.store_entries(state, routed, not_modified(state, at), at)
    )


def test_storing_a_poll_takes_as_many_statements_for_many_entries_as_for_few(
    database_url: str,
) -> None:
    # One statement per table and step, whatever the number of entries: new ones, rewritten
    # ones, and copies of articles new in the same poll (the second source's).
    now = FakeClock().now
    with stored_sources(database_url, [f"s{n}" for n in range(4)]) as store:
        few, many, few_copies, many_copies = store.source_states()
        counts = {}
        for name, state, size in (("few", few, 3), ("many", many, 40)):
            items = [(f"{name}-{n}", f"https://news.example.org/{name}/{n}") for n in range(size)]
            counts[name] = statements_to_store(store, state, rss(name, items), now)
            retitled = rss(f"{name}, corrected", items)
            counts[f"{name} rewritten"] = statements_to_store(store, state, retitled, now)
        for name, state, size in (("few", few_copies, 3), ("many", many_copies, 40)):
            # Each article twice: a copy of an article this same poll stores.
            items = [
                (f"{name}-{n}-{copy}", f"https://copies.example.org/{name}/{n}")
                for n in range(size)
                for copy in (1, 2)
            ]
            counts[f"{name} with copies"] = statements_to_store(store, state, rss(name, items), now)
    assert counts["many"] == counts["few"]
    assert counts["many rewritten"] == counts["few rewritten"]
    assert counts["many with copies"] == counts["few with copies"]


def wire_stories(site: str, count: int, desk: str) -> bytes:
    """`site`'s feed of `count` wire stories of a `desk`: each its own long text, under
    `site`'s links."""
    items = "".join(
        f"<item><title>Wire story {n}</title><link>https://{site}.example/{n}</link>"
        f"<guid>https://{site}.example/{n}</guid>"
        f"<description>{' '.join(f'{desk}{n}word{w}' for w in range(60))}</description></item>"
        for n in range(count)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{site}</title>'
        f"<link>https://{site}.example/</link>{items}</channel></rss>"
    ).encode()


def test_finding_and_joining_near_duplicates_takes_as_many_statements_for_many_as_for_few(
    database_url: str,
) -> None:
    # A site carrying wire stories another site has under its own links: each is looked
    # up by its candidate keys and joined to its story in one statement per step, whatever
    # the number of stories (it was one lookup per entry, and four statements per join).
    now = FakeClock().now
    with stored_sources(database_url, ["wire", "copier", "wire-many", "copier-many"]) as store:
        wire, copier, wire_many, copier_many = store.source_states()
        counts = {}
        for name, original, copy, size in (
            ("few", wire, copier, 3),
            ("many", wire_many, copier_many, 30),
        ):
            statements_to_store(store, original, wire_stories(original.name, size, name), now)
            copies = wire_stories(copy.name, size, name)
            counts[name] = statements_to_store(store, copy, copies, now)
        with store.reading() as connection:
            joined = connection.execute(
                sa.text("SELECT count(*) FROM entries WHERE duplicate_of IS NOT NULL")
            ).scalar_one()
    assert joined == 3 + 30  # every copy found its story
    assert counts["many"] == counts["few"]


def test_a_categorys_copies_are_read_by_their_ids_not_by_source(tmp_path: Path) -> None:
    # Publishing reads the copies of a category's stories: SQLite must look them up by id
    # and by duplicate_of, not start from the active sources and walk all their entries.
    store = Store.open(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    try:
        own_columns = (entries.c.id, entries.c.duplicate_of)
        steps = [plan(store, routed_copies_query("world", [1, 2, 3], own)) for own in own_columns]
    finally:
        store.close()
    by_id, by_story = ([step for step in found if " entries " in f"{step} "] for found in steps)
    assert by_id and all("INTEGER PRIMARY KEY" in step for step in by_id), steps
    assert by_story and all("ix_entries_duplicate_of" in step for step in by_story), steps


def test_recording_polls_without_entries_takes_as_many_statements_for_many_as_for_few(
    database_url: str,
) -> None:
    # A warm poll records a 304 per source: one statement for all of them, not one each.
    now = FakeClock().now
    with stored_sources(database_url, [f"s{n}" for n in range(30)]) as store:
        states = store.source_states()
        counts = {
            name: statements(
                store,
                lambda polled=polled: store.record_polls(
                    [(state.id, not_modified(state, now)) for state in polled]
                ),
            )
            for name, polled in (("few", states[:3]), ("many", states[3:]))
        }
        recorded = {state.id: state.last_attempt for state in store.source_states()}
    assert counts["many"] == counts["few"]
    assert all(recorded[state.id] == now for state in states)
