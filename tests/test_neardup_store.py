"""Near-duplicate stories in the store: one copy per category, the others as related links,
ids that never move, copies only from sources routed to the category, several workers.
Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from feedhub.config.settings import SourceSettings
from feedhub.core.models import PublishedEntry, RelatedLink, SourceState
from feedhub.rules import neardup
from feedhub.store import schema_version
from feedhub.store.engine import create_store_engine
from feedhub.store.entries import RoutedEntry
from feedhub.store.facade import Store
from feedhub.store.retention import prune
from feedhub.store.schema import entries, entry_categories
from tests.neardup_corpus import Copy, by_id, routed
from tests.test_workers import LEASE, NOW, in_parallel, polled

SITES = ("ledger", "courier", "gazette")
ORDER = neardup.Showing(order={f"https://{site}.example/feed": n for n, site in enumerate(SITES)})
ITEMS = by_id()


@pytest.fixture
def workers(database_url: str) -> Iterator[Callable[[int], list[Store]]]:
    opened: list[Store] = []

    def open_workers(count: int) -> list[Store]:
        opened.extend(Store.open(database_url) for _ in range(count))
        opened[0].sync_sources(
            [SourceSettings(url=f"https://{site}.example/feed", name=site) for site in SITES], NOW
        )
        return opened[-count:]

    yield open_workers
    for store in opened:
        store.close()


def claim_all(store: Store) -> dict[str, SourceState]:
    states = store.claim_due_sources("test", NOW, LEASE, None)
    return {state.name: state for state in states}


def store_copies(
    store: Store, state: SourceState, copies: Sequence[Copy], *categories: str
) -> None:
    store.store_entries(state, routed(state.name, copies, *categories), polled(state), NOW)


def latest(store: Store, *args: Any, **kwargs: Any) -> list[PublishedEntry]:
    with store.publication() as view:
        return view.latest_entries(*args, **kwargs)


def shown(store: Store, category: str = "all") -> list[PublishedEntry]:
    return latest(store, category, 50, showing=ORDER)


def test_a_wire_story_at_three_sites_is_shown_once_with_the_others_as_related_links(
    workers: Callable[[int], list[Store]],
) -> None:
    [store] = workers(1)
    states = claim_all(store)
    at = NOW - timedelta(hours=3)
    variants = {"ledger": "fed/case", "courier": "fed/dateline", "gazette": "fed/intro"}
    for number, site in enumerate(("gazette", "courier", "ledger")):  # the latest arrives first
        copy = Copy(ITEMS[variants[site]], site, at + timedelta(minutes=10 * (2 - number)))
        store_copies(store, states[site], [copy], "news")
    [entry] = shown(store, "news")
    assert entry.link == "https://ledger.example/fed-case"  # the earliest published
    assert entry.source.name == "ledger"
    assert entry.related == (
        RelatedLink("https://courier.example/fed-dateline", "courier"),
        RelatedLink("https://gazette.example/fed-intro", "gazette"),
    )
    assert [e.uid for e in shown(store)] == [entry.uid]


def test_look_alikes_stay_apart(workers: Callable[[int], list[Store]]) -> None:
    [store] = workers(1)
    states = claim_all(store)
    pairs = [
        ("lookalike/briefing-monday", "lookalike/briefing-monday-2"),
        ("lookalike/footer-1", "lookalike/footer-2"),
        ("lookalike/short-1", "lookalike/short-2"),
        ("quake/original", "lookalike/quake-followup"),
        ("quake/case", "lookalike/quake-correction"),
        ("lookalike/weather-1", "lookalike/weather-2"),
    ]
    for first, second in pairs:
        store_copies(store, states["ledger"], [Copy(ITEMS[first], "ledger", NOW)])
        store_copies(store, states["courier"], [Copy(ITEMS[second], "courier", NOW)])
    published = shown(store)
    assert len(published) == 2 * len(pairs)
    assert all(entry.related == () for entry in published)


def test_an_earlier_copy_arriving_later_is_shown_under_the_same_id(
    workers: Callable[[int], list[Store]],
) -> None:
    [store] = workers(1)
    states = claim_all(store)
    store_copies(store, states["courier"], [Copy(ITEMS["quake/original"], "courier", NOW)])
    [first] = shown(store)
    earlier = NOW - timedelta(hours=1)
    store_copies(store, states["gazette"], [Copy(ITEMS["quake/headline"], "gazette", earlier)])
    [after] = shown(store)
    assert after.uid == first.uid
    assert after.link == "https://gazette.example/quake-headline"
    assert after.related == (RelatedLink("https://courier.example/quake-original", "courier"),)
    assert after.updated >= first.updated  # readers see that the entry changed


def test_pruning_the_shown_copy_keeps_the_id(workers: Callable[[int], list[Store]]) -> None:
    [store] = workers(1)
    states = claim_all(store)
    store_copies(store, states["courier"], [Copy(ITEMS["river/original"], "courier", NOW)])
    earlier = NOW - timedelta(hours=1)
    store_copies(store, states["ledger"], [Copy(ITEMS["river/edited"], "ledger", earlier)])
    [before] = shown(store)
    assert before.link == "https://ledger.example/river-edited"
    store.store_entries(states["ledger"], [], polled(states["ledger"]), NOW)  # no longer listed
    with store.writing() as connection:
        assert prune(connection, 1, 0, NOW + timedelta(days=3)).entries == 1
    [after] = shown(store)
    assert after.uid == before.uid
    assert (after.link, after.related) == ("https://courier.example/river-original", ())


def test_a_category_shows_only_copies_from_sources_routed_to_it(
    workers: Callable[[int], list[Store]],
) -> None:
    [store] = workers(1)
    states = claim_all(store)
    # An untrusted site lists a trusted story's link first, with its own title and text.
    bait = Copy(ITEMS["vaccine/original"], "gazette", NOW - timedelta(days=1))
    [phishing] = routed("gazette", [bait], "misc")
    phishing = RoutedEntry(
        replace(
            phishing.entry,
            title="Claim your free vaccine voucher",
            canonical_link="https://ledger.example/vaccine-original",
        ),
        phishing.categories,
    )
    store.store_entries(states["gazette"], [phishing], polled(states["gazette"]), NOW)
    trusted = Copy(ITEMS["vaccine/original"], "ledger", NOW)
    store_copies(store, states["ledger"], [trusted], "trusted")
    [entry] = shown(store, "trusted")
    assert (entry.title, entry.source.name) == (ITEMS["vaccine/original"].title, "ledger")
    assert entry.related == ()
    [bait_shown] = shown(store, "misc")
    assert bait_shown.title == "Claim your free vaccine voucher"
    assert bait_shown.uid == entry.uid  # one story: the id it was first stored under


def test_a_source_with_dedupe_off_is_never_merged(workers: Callable[[int], list[Store]]) -> None:
    [store] = workers(1)
    states = claim_all(store)
    off = neardup.Policy(off_sources=frozenset({states["courier"].url}))
    store_copies(store, states["ledger"], [Copy(ITEMS["chip/original"], "ledger", NOW)])
    copies = routed("courier", [Copy(ITEMS["chip/case"], "courier", NOW)])
    store.store_entries(states["courier"], copies, polled(states["courier"]), NOW, policy=off)
    store_copies(store, states["gazette"], [Copy(ITEMS["chip/intro"], "gazette", NOW)])
    published = shown(store)
    assert len(published) == 2
    assert {len(entry.related) for entry in published} == {0, 1}


def test_a_category_with_dedupe_off_shows_every_copy(
    workers: Callable[[int], list[Store]],
) -> None:
    [store] = workers(1)
    states = claim_all(store)
    for minutes, site in enumerate(SITES):
        copy = Copy(ITEMS["airline/original"], site, NOW - timedelta(minutes=minutes))
        store_copies(store, states[site], [copy], "raw")
    apart = neardup.Showing(order=ORDER.order, merged=False)
    raw = latest(store, "raw", 50, showing=apart)
    assert [entry.source.name for entry in raw] == ["ledger", "courier", "gazette"]
    assert len({entry.uid for entry in raw}) == 3
    [merged] = shown(store, "raw")
    assert merged.uid in {entry.uid for entry in raw}


def test_two_workers_storing_two_copies_at_once_publish_one(
    workers: Callable[[int], list[Store]],
) -> None:
    stores = workers(2)
    states = claim_all(stores[0])
    stories = ["fed", "quake", "airline", "river", "chip", "vaccine"]
    for story in stories:
        calls = [
            partial(
                store_copies,
                stores[n],
                states[site],
                [Copy(ITEMS[f"{story}/{variant}"], site, NOW)],
            )
            for n, (site, variant) in enumerate((("ledger", "original"), ("courier", "case")))
        ]
        in_parallel(*calls)
    published = shown(stores[0])
    assert len(published) == len(stories)
    assert all(len(entry.related) == 1 for entry in published)


def test_a_change_of_routing_changes_the_copy_a_category_shows(
    workers: Callable[[int], list[Store]],
) -> None:
    [store] = workers(1)
    states = claim_all(store)
    store_copies(store, states["ledger"], [Copy(ITEMS["chip/original"], "ledger", NOW)], "tech")
    later = NOW + timedelta(minutes=5)
    store_copies(store, states["courier"], [Copy(ITEMS["chip/case"], "courier", later)], "tech")
    [before] = shown(store, "tech")
    assert before.source.name == "ledger"

    def route(url: str, _entry: object) -> frozenset[str]:
        # The ledger is no longer routed to tech.
        return frozenset({"all"} if url == states["ledger"].url else {"all", "tech"})

    assert store.reroute("ledger-out-of-tech", route) is False  # the story stays in tech
    [after] = shown(store, "tech")
    assert (after.uid, after.source.name, after.related) == (before.uid, "courier", ())


def test_a_store_from_before_near_duplicates_keeps_its_stories_and_related_links(
    database_url: str,
) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(schema_version.MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    neardup = script.get_revision("0008_neardup")
    before = [
        head
        if neardup not in script.iterate_revisions(head, "base")
        else str(neardup.down_revision)
        for head in script.get_heads()
    ]
    engine = create_store_engine(database_url)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        for head in before:
            command.upgrade(config, head)
        connection.commit()
        old = [
            {"id": n + 1, "url": f"https://{site}.example/feed", "name": site, "active": True}
            for n, site in enumerate(("ledger", "courier"))
        ]
        connection.execute(
            sa.text(
                "INSERT INTO sources (id, url, name, active, health, permanent_redirects,"
                " failures) VALUES (:id, :url, :name, :active, 'ok', 0, 0)"
            ),
            old,
        )
        for entry_id, source_id, copy_of in ((1, 1, None), (2, 2, 1)):
            connection.execute(
                entries.insert().values(
                    id=entry_id,
                    uid=f"urn:uuid:{entry_id}",
                    source_id=source_id,
                    key=f"k{entry_id}",
                    canonical_link="https://wire.example/a",
                    link=f"https://s{entry_id}.example/a",
                    title="A",
                    content_hash="h",
                    updated=NOW,
                    first_seen=NOW,
                    sort_time=NOW,
                    duplicate_of=copy_of,
                )
            )
        connection.execute(
            entry_categories.insert().values(category="all", entry_id=1, sort_time=NOW)
        )
        connection.commit()
    engine.dispose()
    store = Store.open(database_url)
    try:
        [entry] = latest(store, "all", 10)
        assert (entry.uid, entry.source.name) == ("urn:uuid:1", "ledger")
        assert entry.related == (RelatedLink("https://s2.example/a", "courier"),)
    finally:
        store.close()
