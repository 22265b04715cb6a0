"""Several workers sharing one store: claims and leases, upserts, one primary copy per article,
one publisher per feed at a time. Each test runs on SQLite and on PostgreSQL.

Workers are separate `Store`s (engines with their own connections) over the same
database, run from threads; `test_scale_out.py` runs real `feedhub run` processes.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from feedhub.config.settings import SourceSettings
from feedhub.core.models import NotModified, PollResult, SourceState
from feedhub.parse.document import parse_document
from feedhub.parse.normalize import normalize_entry
from feedhub.rules import schedule
from feedhub.rules.routing import ALL
from feedhub.store.entries import RoutedEntry
from feedhub.store.facade import Store
from feedhub.store.schema import entries, entry_categories, sources
from tests.conftest import ConfigWriter, FakeClock, open_hub
from tests.httpserver import FeedServer, Reply, Request
from tests.workload import rss, shared_articles

NOW = FakeClock().now
LEASE = timedelta(minutes=5)
TIMING = schedule.Timing(
    interval=timedelta(minutes=30),
    min_interval=timedelta(minutes=1),
    max_interval=timedelta(days=1),
)


@pytest.fixture
def stores(database_url: str) -> Iterator[Callable[[], Store]]:
    """Opens stores on one database, as separate workers would; closes them afterwards."""
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(Store.open(database_url))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def opened(stores: Callable[[], Store], count: int, *, known: int) -> list[Store]:
    """`count` workers' stores on one database that knows `known` sources, all due."""
    workers = [stores() for _ in range(count)]
    workers[0].sync_sources(configured(known), NOW)
    return workers


def configured(count: int) -> list[SourceSettings]:
    return [
        SourceSettings(url=f"http://feeds.test/{number}.xml", name=f"source {number}")
        for number in range(count)
    ]


def polled(state: SourceState, at: datetime = NOW) -> PollResult:
    outcome = NotModified(url=state.url, headers={})
    return schedule.after_success(
        state, outcome, at, TIMING, body_hash=None, feed_hint_seconds=None
    )


def routed(body: bytes, *categories: str) -> list[RoutedEntry]:
    document = parse_document(body, "http://feeds.test/feed.xml", {"content-type": "text/xml"})
    return [
        RoutedEntry(normalize_entry(entry), frozenset({ALL, *categories}))
        for entry in document.entries
    ]


def lease_until(store: Store) -> datetime:
    """The latest lease in the store (the epoch if there is none)."""
    with store.reading() as connection:
        latest = connection.execute(sa.select(sa.func.max(sources.c.lease_until))).scalar()
    return latest or datetime(1970, 1, 1, tzinfo=UTC)


def ids(states: list[SourceState]) -> set[int]:
    return {state.id for state in states}


def in_parallel(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at once from threads that start together; their results in order."""
    barrier = threading.Barrier(len(calls))

    def together(call: Callable[[], object]) -> object:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(together, calls))


def test_claims_of_two_workers_never_overlap(stores: Callable[[], Store]) -> None:
    first, second = opened(stores, 2, known=10)
    mine = first.claim_due_sources("first", NOW, LEASE, 4)
    theirs = second.claim_due_sources("second", NOW, LEASE, 100)
    assert len(mine) == 4 and len(theirs) == 6
    assert not ids(mine) & ids(theirs)
    assert first.claim_due_sources("third", NOW, LEASE, 100) == []


def test_concurrent_claims_share_the_sources_out_exactly_once(
    stores: Callable[[], Store],
) -> None:
    workers = opened(stores, 4, known=60)

    def drain(store: Store, owner: str) -> list[int]:
        taken: list[int] = []
        while claimed := store.claim_due_sources(owner, NOW, LEASE, 3):
            taken += ids(claimed)
        return taken

    taken = in_parallel(*(lambda s=s, n=n: drain(s, f"w{n}") for n, s in enumerate(workers)))
    counts = Counter(source_id for batch in taken for source_id in batch)  # type: ignore[attr-defined]
    assert len(counts) == 60 and set(counts.values()) == {1}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_claim_skips_sources_another_claim_is_taking_without_waiting(
    stores: Callable[[], Store],
) -> None:
    first, second = opened(stores, 2, known=3)
    with ThreadPoolExecutor(1) as pool, first.writing() as connection:
        # Another worker's claim is halfway: it has locked one row and not committed yet.
        locked = connection.execute(
            sa.select(sources.c.id).order_by(sources.c.id).limit(1).with_for_update()
        ).scalar_one()
        claim = pool.submit(second.claim_due_sources, "second", NOW, LEASE, 10)
        taken = claim.result(timeout=20)  # TimeoutError if it waited for the lock
    assert len(taken) == 2 and locked not in ids(taken)


def test_a_dead_workers_claims_are_taken_over_when_its_lease_runs_out(
    stores: Callable[[], Store],
) -> None:
    dead, alive = opened(stores, 2, known=3)
    lost = dead.claim_due_sources("dead", NOW, LEASE, 10)
    assert alive.claim_due_sources("alive", NOW + LEASE - timedelta(seconds=1), LEASE, 10) == []
    assert ids(alive.claim_due_sources("alive", NOW + LEASE, LEASE, 10)) == ids(lost)


def test_storing_a_poll_gives_the_claim_back(stores: Callable[[], Store]) -> None:
    first, second = opened(stores, 2, known=2)
    one, other = first.claim_due_sources("first", NOW, LEASE, 10)
    first.record_polls([(one.id, dataclasses.replace(polled(one), next_due=NOW))])
    report = first.store_entries(
        other, routed(shared_articles(1)), dataclasses.replace(polled(other), next_due=NOW), NOW
    )
    assert report.new == 5
    # Both are due again at once and no longer claimed, although the lease has not run out.
    assert ids(second.claim_due_sources("second", NOW, LEASE, 10)) == {one.id, other.id}


def test_a_polled_source_is_not_claimed_again_before_it_is_due(
    stores: Callable[[], Store],
) -> None:
    first, second = opened(stores, 2, known=1)
    [state] = first.claim_due_sources("first", NOW, LEASE, 10)
    first.record_polls([(state.id, polled(state))])
    assert second.claim_due_sources("second", NOW + LEASE, LEASE, 10) == []
    assert ids(second.claim_due_sources("second", NOW + TIMING.interval, LEASE, 10)) == {state.id}


def test_given_back_claims_go_to_the_next_worker(stores: Callable[[], Store]) -> None:
    stopping, next_one = opened(stores, 2, known=3)
    claimed = stopping.claim_due_sources("stopping", NOW, LEASE, 10)
    stopping.release_sources("stopping", [state.id for state in claimed[1:]])
    assert ids(next_one.claim_due_sources("next", NOW, LEASE, 10)) == ids(claimed[1:])


def test_everything_is_claimed_batch_by_batch_once(stores: Callable[[], Store]) -> None:
    store = stores()
    store.sync_sources(configured(5), NOW)
    [first] = store.claim_due_sources("w", NOW, LEASE, 1)
    store.record_polls([(first.id, polled(first))])
    started = NOW + timedelta(seconds=1)
    seen: list[int] = []
    while batch := store.claim_due_sources("w", started, LEASE, 2, everything=True):
        seen += [state.id for state in batch]
        for state in batch:  # stored: no longer leased, but attempted since the start
            store.record_polls([(state.id, polled(state, at=started))])
    assert len(seen) == 5 and seen == sorted(seen)  # the one not due too, in id order
    assert first.id in seen
    later = started + timedelta(seconds=1)
    assert store.claim_due_sources("w", later, LEASE, 2, everything=True, started=started) == []


def test_one_article_stored_from_several_sources_at_once_has_one_primary(
    stores: Callable[[], Store],
) -> None:
    workers = opened(stores, 4, known=4)
    states = [workers[n].claim_due_sources(f"w{n}", NOW, LEASE, 1)[0] for n in range(4)]
    for round_ in range(12):
        # Every source carries the same new story, stored by four workers at the same moment.
        link = f"https://wire.example.org/round/{round_}"
        calls = [
            partial(
                workers[n].store_entries,
                states[n],
                routed(rss(f"source{n}", [(f"s{n}-r{round_}", link)]), "world"),
                polled(states[n]),
                NOW,
            )
            for n in range(4)
        ]
        in_parallel(*calls)
    with workers[0].reading() as connection:
        primaries = connection.execute(
            sa.select(entries.c.canonical_link, sa.func.count())
            .where(entries.c.duplicate_of.is_(None))
            .group_by(entries.c.canonical_link)
        ).all()
        memberships = connection.execute(
            sa.select(entry_categories.c.category, sa.func.count()).group_by(
                entry_categories.c.category
            )
        ).all()
    assert len(primaries) == 12 and {count for _, count in primaries} == {1}, primaries
    assert dict(memberships) == {ALL: 12, "world": 12}  # a reader sees each story once
    with workers[0].publication() as view:
        links = [entry.link for entry in view.latest_entries("world", 100)]
    assert len(links) == len(set(links)) == 12


def test_one_poll_stored_twice_at_once_gives_one_row_per_entry(
    stores: Callable[[], Store],
) -> None:
    slow, successor = opened(stores, 2, known=1)
    [state] = slow.claim_due_sources("slow", NOW, LEASE, 1)
    for round_ in range(8):
        # The slow worker's lease ran out and its successor polled the same document.
        items = [(f"r{round_}-{n}", f"https://news.example.org/r{round_}/{n}") for n in range(5)]
        entries_ = routed(rss("source0", items))
        reports = in_parallel(
            *(
                partial(store.store_entries, state, entries_, polled(state), NOW)
                for store in (slow, successor)
            )
        )
        assert sum(report.new for report in reports) == 5  # type: ignore[attr-defined]
    with slow.reading() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(entries)).scalar()
    assert count == 40


def test_workers_starting_together_create_the_store_once(database_url: str) -> None:
    opened = in_parallel(*(lambda: Store.open(database_url) for _ in range(3)))
    for store in opened:
        assert isinstance(store, Store)
        store.sync_sources(configured(2), NOW)
    in_parallel(*(lambda store=store: store.sync_sources(configured(4), NOW) for store in opened))
    with opened[0].reading() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(sources)).scalar() == 4
    for store in opened:
        store.close()  # type: ignore[attr-defined]


def test_a_poll_stored_while_its_feed_is_regenerated_leaves_the_feed_dirty(
    stores: Callable[[], Store],
) -> None:
    publisher, poller = opened(stores, 2, known=1)
    [state] = poller.claim_due_sources("poller", NOW, LEASE, 1)
    poller.store_entries(state, routed(shared_articles(0), "world"), polled(state), NOW)
    assert "world" in publisher.dirty_categories()
    store_more = threading.Thread(
        target=poller.store_entries,
        args=(state, routed(shared_articles(0, own=4), "world"), polled(state), NOW),
    )
    with publisher.publishing("world", always=False) as publication:
        assert publication is not None
        before = publication.latest_entries("world", 100)
        store_more.start()
        store_more.join(timeout=1)
        # The poll waits for the regeneration, which publishes what it read.
        assert store_more.is_alive()
    store_more.join()
    assert len(before) == 5
    assert publisher.dirty_categories() >= {"world"}
    with publisher.publishing("world", always=False) as publication:
        assert publication is not None
        assert len(publication.latest_entries("world", 100)) == 7
    with publisher.publishing("world", always=False) as publication:
        assert publication is None  # nothing changed since


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_feed_another_worker_is_regenerating_is_left_to_it(
    stores: Callable[[], Store],
) -> None:
    first, second = stores(), stores()
    with first.publishing("world", always=True) as publication:
        assert publication is not None
        with second.publishing("world", always=False) as skipped:
            assert skipped is None
    with second.publishing("world", always=True) as publication:
        assert publication is not None


def test_a_slow_poll_keeps_its_claims_while_its_worker_lives(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    arrived, answer = threading.Event(), threading.Event()

    def slow(request: Request) -> Reply:
        arrived.set()
        answer.wait(30)
        return Reply.feed(shared_articles(0))

    source = {"url": feed_server.route("/slow.xml", slow), "name": "slow"}
    config = write_config([source], schedule={"lease": "3s"})
    clock = FakeClock()
    slow_worker, other = open_hub(config, clock), open_hub(config, clock)
    with ThreadPoolExecutor(1) as pool:
        polling = pool.submit(slow_worker.poll)
        assert arrived.wait(10)
        clock.advance(timedelta(seconds=4))  # past the lease taken with the claim
        deadline = time.monotonic() + 10
        while lease_until(other.store) <= clock.now:  # renewed every third of a lease
            assert time.monotonic() < deadline, "the claim was not renewed"
            time.sleep(0.05)
        assert other.poll().polled == 0
        answer.set()
        assert polling.result(timeout=30).polled == 1
    assert len(feed_server.hits("/slow.xml")) == 1


def test_two_hubs_polling_one_store_fetch_each_source_once(
    feed_server: FeedServer, write_config: Callable[..., object]
) -> None:
    count = 24
    paths = [f"/feed-{number}.xml" for number in range(count)]
    config = write_config(
        [
            {
                "url": feed_server.route(
                    path, dataclasses.replace(Reply.feed(shared_articles(number)), delay=0.02)
                ),
                "name": f"source {number}",
                "categories": ["world"],
            }
            for number, path in enumerate(paths)
        ],
        {"world": {"title": "World"}},
        fetch={"concurrency": 2},
    )
    clock = FakeClock()
    hubs = [open_hub(config, clock) for _ in range(2)]  # type: ignore[arg-type]
    summaries = in_parallel(*(hub.poll for hub in hubs))
    assert sum(summary.polled for summary in summaries) == count  # type: ignore[attr-defined]
    assert all(summary.polled > 0 for summary in summaries)  # type: ignore[attr-defined]
    assert {path: len(feed_server.hits(path)) for path in paths} == dict.fromkeys(paths, 1)
    with hubs[0].store.publication() as view:
        links = [entry.link for entry in view.latest_entries("world", 1000)]
    assert len(links) == len(set(links)) == 2 * count + 3
