"""Stopping `run --once` (Ctrl-C, SIGTERM, kill -9) and the claims a stopped run leaves.

A real `feedhub run --once` runs in a subprocess against sources whose server
holds every request until the test lets it go, so the run is mid-fetch when it
gets its signal. What is asserted is what the next run polls and what the store
holds, never how long anything took.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedhub.store import schema
from feedhub.store.facade import Store
from tests.cli_runner import invoke
from tests.conftest import ConfigWriter, run_feedhub, start_feedhub
from tests.hostile import rss, rss_items
from tests.httpserver import FeedServer, Reply, Request

SOURCES = 12
# Two fetches at a time; no timeout or deadline cuts a held fetch short during a test.
FETCH = {"concurrency": 2, "timeout": 100, "deadline": 100}


class Gate:
    """Feeds whose answers wait until the test opens the gate."""

    def __init__(self, server: FeedServer, count: int) -> None:
        self.opened = threading.Event()
        self.server = server
        self.paths = [f"/feed-{number}.xml" for number in range(count)]
        for number, path in enumerate(self.paths):
            server.route(path, self._held(Reply.feed(rss(rss_items(2, f"S{number}")))))

    def _held(self, reply: Reply) -> Callable[[Request], Reply]:
        def answer(_request: Request) -> Reply:
            self.opened.wait(timeout=120)
            return reply

        return answer

    def waiting(self) -> int:
        return len(self.server.requests)

    def sources(self) -> list[dict[str, str]]:
        return [
            {"url": self.server.url(path), "name": f"Source {n}"}
            for n, path in enumerate(self.paths)
        ]


@pytest.fixture
def gate(feed_server: FeedServer) -> Iterator[Gate]:
    held = Gate(feed_server, SOURCES)
    yield held
    held.opened.set()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait for something the test needs before its next step (not a timing assertion)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def leases(database_url: str) -> list[tuple[str, str | None]]:
    store = Store.open(database_url)
    try:
        with store.reading() as connection:
            rows = connection.execute(
                sa.select(schema.sources.c.url, schema.sources.c.lease_owner).where(
                    schema.sources.c.lease_owner.is_not(None)
                )
            )
            return [(row.url, row.lease_owner) for row in rows]
    finally:
        store.close()


def started_and_fetching(config: Path, gate: Gate, fetching: int) -> subprocess.Popen[str]:
    process = start_feedhub("--config", config, "run", "--once")
    wait_for(lambda: gate.waiting() >= fetching, "the run to be fetching")
    return process


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_stopped_run_gives_back_its_claims_and_the_next_run_polls_everything(
    write_config: ConfigWriter, gate: Gate, database_url: str, stop: signal.Signals, code: int
) -> None:
    # Two fetches at a time, both held: the run has claimed 4 and fetched none to the end.
    config = write_config(gate.sources(), fetch=FETCH)
    process = started_and_fetching(config, gate, 2)
    process.send_signal(stop)
    # The fetches in flight are cut short: the run ends while the server still holds them.
    stdout, stderr = process.communicate(timeout=60)
    assert not gate.opened.is_set()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("feedhub:")]
    assert line.startswith(f"feedhub: stopped by {stop.name}: polled 0 of 12 due sources")
    assert "the next run polls them" in line
    assert stdout == ""
    assert gate.waiting() == 2, "nothing was fetched after the signal"
    assert leases(database_url) == []  # every claim was given back

    gate.opened.set()
    after = run_feedhub("--config", config, "run", "--once")
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith("polled 12 sources (0 failing): 24 new")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_claims_of_a_killed_run_are_free_at_once_on_the_same_machine(
    write_config: ConfigWriter, gate: Gate, database_url: str
) -> None:
    config = write_config(gate.sources(), fetch=FETCH)
    process = started_and_fetching(config, gate, 2)
    wait_for(lambda: len(leases(database_url)) == 4, "the run's claims")
    process.kill()  # no chance to give anything back
    process.wait()
    owners = {owner for _, owner in leases(database_url)}
    assert len(owners) == 1 and f" pid {process.pid} " in owners.pop()

    gate.opened.set()
    after = run_feedhub("--config", config, "run", "--once")
    assert after.returncode == 0, after.stderr
    # The dead run's 4 sources too, long before its 2-minute lease would run out.
    assert after.stdout.startswith("polled 12 sources"), after.stdout
    assert leases(database_url) == []


def test_status_shows_held_sources_and_a_run_finding_all_held_says_so(
    write_config: ConfigWriter, gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    # Enough fetches at once for the first run to claim every source.
    config = write_config(gate.sources()[:4], fetch=FETCH | {"concurrency": 4, "per_host": 4})
    process = started_and_fetching(config, gate, 4)
    try:
        shown = invoke(capsys, "--config", config, "status")
        held = [line for line in shown.stdout.splitlines() if "being polled by" in line]
        assert len(held) == 4, shown.stdout
        assert held[0].startswith("Source 0: being polled by ")
        assert f" pid {process.pid} (claim until " in held[0]
        as_json = invoke(capsys, "--config", config, "status", "--json")
        assert f"pid {process.pid}" in as_json.stdout and '"held_until": "' in as_json.stdout

        second = invoke(capsys, "--config", config, "run", "--once")
        assert second.returncode == 0, second.stderr
        (line,) = second.stdout.splitlines()
        assert line.startswith("nothing polled: 4 due sources held by another run (")
        assert f"pid {process.pid})" in line
    finally:
        gate.opened.set()
        process.communicate(timeout=60)
    assert process.returncode == 0
