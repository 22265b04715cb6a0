"""Parsing in worker processes: same entries as in-process, only for big polls, crash-proof."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from feedhub.app.hub import Hub
from feedhub.config.settings import load_config
from feedhub.core.models import Fetched
from feedhub.parse.docguard import DocumentLimits
from feedhub.parse.pool import Parser, parse_fetched
from feedhub.store.facade import Store
from tests.conftest import FakeClock
from tests.httpserver import FeedServer, Reply

SOURCES = 8


def rss(number: int, entries: int = 5) -> bytes:
    items = "".join(
        f"<item><title>Story {number}.{n} &amp; more</title>"
        f"<link>https://news{number}.example/{n}</link>"
        f"<description>&lt;p&gt;Body of {number}.{n} with "
        f'&lt;a href="/rel/{n}?utm_source=x"&gt;a link&lt;/a&gt;&lt;/p&gt;</description>'
        f"<category>World</category>"
        f"<pubDate>Mon, 0{1 + n % 9} Jul 2025 10:00:00 GMT</pubDate></item>"
        for n in range(entries)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {number}</title>'
        f"<link>https://news{number}.example/</link>{items}</channel></rss>"
    ).encode()


def fetched(number: int) -> Fetched:
    url = f"https://news{number}.example/feed.xml"
    return Fetched(url, 200, rss(number), {"content-type": "application/rss+xml"})


def open_hub(tmp_path: Path, name: str, urls: list[str], *, backlog: int) -> Hub:
    config = tmp_path / f"{name}.toml"
    config.write_text(
        tomlkit.dumps(
            {
                "hub": {
                    "base_url": "http://feeds.test/",
                    "output_dir": f"public-{name}",
                    "database": f"sqlite:///{tmp_path / name}.sqlite",
                },
                "fetch": {"allow_private_networks": True, "timeout": 5},
                "categories": {"world": {"title": "World", "match": ["World"]}},
                "sources": [{"url": url, "name": f"feed {n}"} for n, url in enumerate(urls)],
            }
        )
    )
    settings = load_config(config)
    hub = Hub(settings, Store.open(settings.hub.database), FakeClock())
    hub.parser.backlog = backlog
    hub.sync_sources()
    return hub


@pytest.fixture
def urls(feed_server: FeedServer) -> list[str]:
    return [feed_server.route(f"/{n}.xml", Reply.feed(rss(n))) for n in range(SOURCES)]


def stored(hub: Hub) -> list[object]:
    with hub.store.publication() as view:
        return list(view.latest_entries("all", 1000))


def test_a_big_poll_parses_in_workers_and_stores_what_one_process_would(
    tmp_path: Path, urls: list[str]
) -> None:
    pooled = open_hub(tmp_path, "pooled", urls, backlog=1)
    alone = open_hub(tmp_path, "alone", urls, backlog=10**12)
    try:
        assert pooled.run_once(everything=True).new_entries == SOURCES * 5
        assert alone.run_once(everything=True).new_entries == SOURCES * 5
        assert pooled.parser.in_workers == SOURCES
        assert alone.parser.in_workers == 0
        assert stored(pooled) == stored(alone)
        # The workers stop with the poll: an idle daemon holds no parser processes.
        assert multiprocessing.active_children() == []
    finally:
        for hub in (pooled, alone):
            hub.close()
            hub.store.close()


def test_a_small_poll_parses_in_its_own_process(tmp_path: Path, urls: list[str]) -> None:
    hub = open_hub(tmp_path, "small", urls[:3], backlog=Parser(DocumentLimits()).backlog)
    try:
        assert hub.run_once(everything=True).new_entries == 15
        assert hub.parser.in_workers == 0
    finally:
        hub.close()
        hub.store.close()


def test_a_killed_worker_costs_no_document() -> None:
    parser = Parser(DocumentLimits(), workers=1, backlog=1)
    with parser.session():
        parser.start(1, fetched(1))
        assert parser.finish(1, fetched(1)) == parse_fetched(
            rss(1), fetched(1).url, fetched(1).headers, DocumentLimits()
        )
        for worker in multiprocessing.active_children():
            worker.kill()
            worker.join()
        parser.start(2, fetched(2))
        parsed = parser.finish(2, fetched(2))
    assert [entry.title for entry in parsed.entries][:1] == ["Story 2.0 & more"]
    assert parsed.document.title == "Feed 2"
    assert multiprocessing.active_children() == []


def test_bodies_waiting_inline_go_to_the_workers_when_they_start() -> None:
    # The first bodies of a cold poll arrive before there is a backlog; once the workers
    # start, they parse those too instead of leaving them to the storing thread.
    first, second = fetched(1), fetched(2)
    parser = Parser(DocumentLimits(), workers=1, backlog=len(first.body) + 1)
    with parser.session():
        parser.start(1, first)
        assert parser.in_workers == 0
        parser.start(2, second)  # the backlog is reached: the workers start
        assert parser.in_workers == 2
        alone = parse_fetched(first.body, first.url, first.headers, DocumentLimits())
        assert parser.finish(1, first) == alone
        assert parser.finish(2, second).document.title == "Feed 2"


@pytest.mark.parametrize(("allowed", "workers"), [({0}, 1), ({0, 1}, 1)])
def test_workers_leave_the_storing_thread_a_core(allowed: set[int], workers: int) -> None:
    if not allowed <= os.sched_getaffinity(0):
        pytest.skip("this machine has fewer cores")
    probe = (
        "import os, sys\n"
        f"os.sched_setaffinity(0, {allowed!r})\n"
        "from feedhub.parse.pool import Parser, parse_workers\n"
        "from feedhub.parse.docguard import DocumentLimits\n"
        "print(parse_workers(), Parser(DocumentLimits()).workers)\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == [str(workers), str(workers)]


def test_the_storing_thread_parses_queued_documents_rather_than_wait() -> None:
    # The worker is still starting (a fresh interpreter) when the first result is asked
    # for: the storing thread takes back documents no worker has started, newest first,
    # and every document is parsed once, as it would be alone.
    documents = {
        number: dataclasses.replace(fetched(number), body=rss(number, 50)) for number in range(12)
    }
    parser = Parser(DocumentLimits(), workers=1, backlog=1)
    with parser.session():
        for number, document in documents.items():
            parser.start(number, document)
        parsed = {number: parser.finish(number, document) for number, document in documents.items()}
    assert parser.in_workers == len(documents)
    assert parser.taken_back >= 1
    for number, document in documents.items():
        alone = parse_fetched(document.body, document.url, document.headers, DocumentLimits())
        assert parsed[number] == alone
    assert multiprocessing.active_children() == []
