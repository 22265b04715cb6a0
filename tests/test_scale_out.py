"""Three `feedhub run` workers on one PostgreSQL store, one killed, and a server on another.

One HTTP server on 127.0.0.1 carries 100 sources whose articles partly overlap;
three worker processes poll them with a short interval, each with an output
folder of its own (separate machines share no file system). From the server's
log, every source is fetched once per interval; the store holds no duplicates;
every feed is published. A worker killed with SIGKILL loses its claims, and the
others poll its sources once its lease runs out. `feedhub serve` in a fourth
process, with an empty output folder, serves the documents the workers published.
"""

from __future__ import annotations

import dataclasses
import itertools
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import feedparser
import pytest
import sqlalchemy as sa

from feedhub.core.site import strong_etag
from feedhub.store import schema
from feedhub.store.facade import Store
from tests.conftest import ConfigWriter
from tests.httpserver import FeedServer, Reply, Request
from tests.workload import shared_articles

SOURCES = 100
CATEGORIES = [f"c{number}" for number in range(5)]
INTERVAL = 5.0  # seconds
SCHEDULE = {"interval": "5s", "min_interval": "1s", "tick": "0.2s", "lease": "4s"}
FETCH = {"concurrency": 4, "timeout": 2, "deadline": 2}
DELAY = 0.05  # per request, so that claims are held for a while


def wall(request: Request, clock_offset: float) -> float:
    return request.at + clock_offset


def assert_once_per_interval(server: FeedServer, paths: Iterable[str]) -> None:
    """No source was fetched twice within one interval (by whichever workers)."""
    for path in paths:
        times = [request.at for request in server.hits(path)]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= INTERVAL - 0.1 for gap in gaps), (path, gaps)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def start(
    processes: list[subprocess.Popen[bytes]], log: Path, *args: str | Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "feedhub", *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    processes.append(process)
    return process


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_workers_share_the_sources_and_a_fourth_machine_serves_the_feeds(
    feed_server: FeedServer,
    write_config: ConfigWriter,
    database_url: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    clock_offset = time.time() - time.monotonic()
    paths = [f"/source-{number}.xml" for number in range(SOURCES)]
    sources = [
        {
            "url": feed_server.route(
                path, dataclasses.replace(Reply.feed(shared_articles(number)), delay=DELAY)
            ),
            "name": f"source {number}",
            "categories": [CATEGORIES[number % len(CATEGORIES)]],
        }
        for number, path in enumerate(paths)
    ]
    categories = {slug: {"title": f"Category {slug}"} for slug in CATEGORIES}

    def machine(number: int) -> Path:
        return write_config(
            sources,
            categories,
            name=f"machine-{number}.toml",
            hub={"output_dir": f"public-{number}"},
            schedule=SCHEDULE,
            fetch=FETCH,
        )

    workers = [
        start(processes, tmp_path / f"worker-{number}.log", "--config", machine(number), "run")
        for number in (1, 2, 3)
    ]
    store = Store.open(database_url)
    try:
        # --- every source is polled once per interval, shared by the workers -----------
        wait_for(
            lambda: all(len(feed_server.hits(path)) >= 2 for path in paths),
            60,
            "two rounds of polls",
        )
        assert_once_per_interval(feed_server, paths)

        # --- a worker dies holding claims; the others take its sources over ------------
        victim = workers[0]
        owner = f"% pid {victim.pid} %"
        leased = sa.select(schema.sources.c.url, schema.sources.c.lease_until).where(
            schema.sources.c.lease_owner.like(owner)
        )

        def victim_holds_claims() -> bool:
            with store.reading() as connection:
                return connection.execute(leased).first() is not None

        def frozen_holding_claims() -> bool:
            # Stopped, the victim cannot store its poll and give its claims back between
            # the look and the kill.
            victim.send_signal(signal.SIGSTOP)
            if victim_holds_claims():
                return True
            victim.send_signal(signal.SIGCONT)
            return False

        wait_for(frozen_holding_claims, 30, "the victim to hold claims")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.time()
        with store.reading() as connection:
            orphans = {row.url: row.lease_until for row in connection.execute(leased)}
        assert orphans
        orphan_paths = {url.removeprefix(feed_server.url("")): url for url in orphans}

        def taken_over(path: str) -> bool:
            until = orphans[orphan_paths[path]].timestamp()
            return any(
                wall(request, clock_offset) >= until - 0.1 for request in feed_server.hits(path)
            )

        wait_for(lambda: all(map(taken_over, orphan_paths)), 40, "the orphans to be polled")
        for path in orphan_paths:
            later = [
                wall(request, clock_offset)
                for request in feed_server.hits(path)
                if wall(request, clock_offset) > killed_at
            ]
            # Nobody polled them before the dead worker's lease ran out.
            assert min(later) >= orphans[orphan_paths[path]].timestamp() - 0.1, path
        with store.reading() as connection:
            assert connection.execute(leased).first() is None  # no claim of the dead is left

        # The survivors stop cleanly; no source was fetched twice within an interval.
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        for worker in workers[1:]:
            assert worker.wait(timeout=30) == 0
        assert_once_per_interval(feed_server, set(paths) - set(orphan_paths))

        # --- the store holds each entry once, each article once per feed ---------------
        with store.reading() as connection:
            entries = schema.entries
            duplicated = connection.execute(
                sa.select(entries.c.source_id, entries.c.key)
                .group_by(entries.c.source_id, entries.c.key)
                .having(sa.func.count() > 1)
            ).all()
            assert duplicated == []
            stored = connection.execute(sa.select(sa.func.count()).select_from(entries)).scalar()
        assert stored == SOURCES * 5
        for slug in ["all", *CATEGORIES]:
            with store.publication() as view:
                links = [entry.link for entry in view.latest_entries(slug, 1000)]
            assert len(links) == len(set(links)), slug
        # every feed is published, in the store
        for slug in ["all", *CATEGORIES]:
            for name in ("atom.xml", "rss.xml"):
                document = store.document(f"{slug}/{name}")
                assert document is not None, f"{slug}/{name}"
                assert feedparser.parse(document.body).entries

        # --- a server on a machine without the workers' files serves what they published ---
        port = free_port()
        server_config = write_config(
            sources, categories, name="server.toml", hub={"output_dir": "public-server"}
        )
        start(
            processes,
            tmp_path / "server.log",
            "--config",
            server_config,
            "serve",
            "--port",
            str(port),
        )
        wait_for(lambda: _accepts(port), 30, "the server to listen")
        folders = [tmp_path / f"public-{number}" for number in (1, 2, 3)]
        published = _stored_documents(store)
        assert {f"{slug}/atom.xml" for slug in ["all", *CATEGORIES]} <= set(published)
        for path, (body, etag) in published.items():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}") as response:
                assert response.read() == body, path
                assert response.headers["ETag"] == etag == strong_etag(body), path
            # ... the bytes a worker wrote to its own folder when it published them
            assert any(
                (folder / path).is_file() and (folder / path).read_bytes() == body
                for folder in folders
            ), path
        assert not (tmp_path / "public-server").exists()
    finally:
        store.close()
    logs = "".join(
        (tmp_path / f"worker-{number}.log").read_text(errors="replace") for number in (2, 3)
    )
    assert "Traceback" not in logs, logs[-5000:]


def _stored_documents(store: Store) -> dict[str, tuple[bytes, str]]:
    with store.reading() as connection:
        return {
            row.path: (bytes(row.body), row.etag)
            for row in connection.execute(sa.select(schema.documents))
        }


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
