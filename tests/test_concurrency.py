"""A daemon, `run --once`, `publish` and `serve` on one SQLite store at the same time.

Every poll writes (the feeds gain entries on every request), so the processes
contend for the store all along. None may fail, none may report "database is
locked", the store must pass SQLite's integrity check, and a client reading a
feed over HTTP or from the output folder during the publishes always gets a
whole document.
"""

from __future__ import annotations

import http.client
import logging
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from feedhub.store import engine as store_module
from feedhub.store.facade import Store
from tests.conftest import ConfigWriter, run_feedhub, start_feedhub
from tests.hostile import growing_feed
from tests.httpserver import FeedServer

SOURCES = 8
CONTENTION_SECONDS = 8


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def whole_atom(body: bytes) -> bool:
    try:
        return etree.fromstring(body).tag == "{http://www.w3.org/2005/Atom}feed"
    except etree.XMLSyntaxError:
        return False


class Reader(threading.Thread):
    """Reads one published feed again and again, over HTTP and from its file."""

    def __init__(self, port: int, path: Path) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.stop = threading.Event()
        self.whole = self.broken = 0

    def run(self) -> None:
        while not self.stop.is_set():
            for body in (self._download(), self._read()):
                if body is not None:
                    if whole_atom(body):
                        self.whole += 1
                    else:
                        self.broken += 1

    def _download(self) -> bytes | None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/all/atom.xml")
            response = connection.getresponse()
            return response.read() if response.status == 200 else None
        except OSError:
            return None  # the server is still starting
        finally:
            connection.close()

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None


def repeat(args: list[str | Path], until: float, failures: list[str]) -> int:
    runs = 0
    while time.monotonic() < until:
        result = run_feedhub(*args)
        runs += 1
        if result.returncode != 0 or "Traceback" in result.stderr or "locked" in result.stderr:
            failures.append(f"{args[-1]}: exit {result.returncode}: {result.stderr[-2000:]}")
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_daemon_run_once_publish_and_serve_share_one_store(
    feed_server: FeedServer, write_config: ConfigWriter, tmp_path: Path
) -> None:
    sources = [
        {"url": feed_server.route(f"/{n}.xml", growing_feed(f"S{n}")), "name": f"S{n}"}
        for n in range(SOURCES)
    ]
    port = free_port()
    config = write_config(
        sources,
        schedule={"interval": "1s", "min_interval": "1s", "tick": "1s"},
        serve={"port": port},
    )
    daemon = start_feedhub("--config", config, "run")
    web = start_feedhub("--config", config, "serve")
    reader = Reader(port, tmp_path / "public" / "all" / "atom.xml")
    reader.start()
    failures: list[str] = []
    until = time.monotonic() + CONTENTION_SECONDS
    once = threading.Thread(
        target=repeat, args=(["--config", config, "run", "--once", "--all"], until, failures)
    )
    once.start()
    publishes = repeat(["--config", config, "publish"], until, failures)
    once.join()
    reader.stop.set()
    reader.join()
    outputs = {}
    for name, process in (("daemon", daemon), ("serve", web)):
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        outputs[name] = (process.returncode, stderr)

    assert failures == []
    for name, (code, stderr) in outputs.items():
        assert code == 0, (name, stderr[-3000:])
        assert "Traceback" not in stderr and "locked" not in stderr, (name, stderr[-3000:])
    assert publishes > 1
    assert reader.broken == 0 and reader.whole > 0
    with sqlite3.connect(tmp_path / "feedhub.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (stored,) = db.execute("SELECT count(*) FROM entries").fetchone()
    assert stored > SOURCES * 2


def test_a_writer_waits_again_when_the_store_stays_locked_past_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "feedhub.sqlite"
    store = Store.open(f"sqlite:///{path}")
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # holds the write lock past the busy timeout

    class ReleaseWhenWaitedFor(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "the store is busy" in record.getMessage():
                other_process.execute("COMMIT")

    handler = ReleaseWhenWaitedFor()
    logging.getLogger("feedhub.store.engine").addHandler(handler)
    try:
        store.sync_sources([], datetime(2025, 7, 4, tzinfo=UTC))
    finally:
        logging.getLogger("feedhub.store.engine").removeHandler(handler)
        other_process.close()
        store.close()
    assert "waiting for it again (attempt 2)" in caplog.text
