"""Claims spread over hosts: the pure picker, and the store's claim using it (SQLite and
PostgreSQL), so that a config listing one site's feeds together does not leave the fetch
threads queueing for that site's `per_host` slots while other sites wait."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from feedhub.config.settings import SourceSettings
from feedhub.rules.spread import host_of, spread_over_hosts
from feedhub.store.facade import Store
from tests.conftest import FakeClock
from tests.test_workers import LEASE

NOW = FakeClock().now


def test_hosts_are_taken_in_turn_keeping_each_hosts_order() -> None:
    candidates = [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "b"), (6, "c")]
    assert spread_over_hosts(candidates, 6, {}) == [1, 4, 6, 2, 5, 3]
    assert spread_over_hosts(candidates, 4, {}) == [1, 4, 6, 2]


def test_hosts_with_fetches_in_hand_come_last() -> None:
    candidates = [(1, "a"), (2, "a"), (3, "b"), (4, "c")]
    assert spread_over_hosts(candidates, 3, {"a": 2, "b": 1}) == [4, 3, 1]


def test_nothing_to_pick() -> None:
    assert spread_over_hosts([], 5, {}) == []
    assert spread_over_hosts([(1, "a")], 0, {}) == []


def test_host_of_is_the_lowercased_hostname() -> None:
    assert host_of("https://News.Example:8443/feed?x=1") == "news.example"
    assert host_of("file:///srv/feed.xml") == ""


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


def test_a_claim_spans_hosts_even_when_ids_follow_the_sites(store: Store) -> None:
    # Three feeds each of four sites, added site by site: ids run a.test x3, b.test x3, ...
    sites = ["a.test", "b.test", "c.test", "d.test"]
    store.sync_sources(
        [
            SourceSettings(url=f"http://{site}/{n}.xml", name=f"{site} {n}")
            for site in sites
            for n in range(3)
        ],
        NOW,
    )
    first = store.claim_due_sources("w", NOW, LEASE, 8, everything=True)
    assert Counter(host_of(state.url) for state in first) == dict.fromkeys(sites, 2)
    assert [host_of(state.url) for state in first[:4]] == sites  # due (id) order among equals
    # The worker still has a.test's two fetches in hand: the next claim leaves it for last.
    busy = {"a.test": 2}
    second = store.claim_due_sources("w", NOW, LEASE, 3, everything=True, busy=busy)
    assert [host_of(state.url) for state in second] == ["b.test", "c.test", "d.test"]
    assert {state.id for state in first}.isdisjoint(state.id for state in second)
