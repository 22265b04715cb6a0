"""Shared fixtures: a real HTTP server on 127.0.0.1, config files in tmp folders, a clock."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from feedhub.app.hub import Hub
from feedhub.config.settings import Settings, load_config
from feedhub.store.facade import Store
from tests.databases import BACKENDS, database
from tests.hostile import SECRET, HostileServer, rss, rss_items
from tests.httpserver import FeedServer, Reply

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "config" / "samples"
ATOM_SCHEMA = ROOT / "tests" / "schemas" / "atom.rng"


class FakeClock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, start: datetime = datetime(2025, 7, 4, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ConfigWriter = Callable[..., Path]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store database: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def write_config(tmp_path: Path, database_url: str) -> ConfigWriter:
    """Write a config file into tmp_path: sources, categories and overrides of any section."""

    def write(
        sources: list[dict[str, Any]],
        categories: dict[str, dict[str, Any]] | None = None,
        name: str = "feedhub.toml",
        **sections: dict[str, Any],
    ) -> Path:
        document: dict[str, Any] = {
            "hub": {
                "title": "test hub",
                "base_url": "http://feeds.test/",
                "output_dir": "public",
                "database": database_url,
                **sections.pop("hub", {}),
            },
            "fetch": {"allow_private_networks": True, "timeout": 5, **sections.pop("fetch", {})},
            "schedule": {"interval": "30m", **sections.pop("schedule", {})},
            **sections,
            "categories": categories or {},
            "sources": sources,
        }
        path = tmp_path / name
        path.write_text(tomlkit.dumps(document))
        return path

    return write


_open_hubs: list[Hub] = []


@pytest.fixture(autouse=True)
def _close_hubs() -> Iterator[None]:
    """Close what `open_hub` opened, so no connection outlives its test's database."""
    yield
    while _open_hubs:
        hub = _open_hubs.pop()
        hub.close()
        hub.store.close()


def open_hub(config: Path, clock: FakeClock | None = None) -> Hub:
    settings = load_config(config)
    hub = Hub(settings, Store.open(settings.hub.database), clock or FakeClock())
    _open_hubs.append(hub)
    hub.sync_sources()
    return hub


def run_feedhub(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess, as an operator or cron would."""
    return subprocess.run(
        [sys.executable, "-m", "feedhub", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_feedhub(*args: str | Path) -> subprocess.Popen[str]:
    """Start the real command line in the background (a daemon, a server); pipes for output."""
    return subprocess.Popen(
        [sys.executable, "-m", "feedhub", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output_files(settings: Settings) -> dict[str, bytes]:
    root = settings.hub.output_dir
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A local file whose content (`tests.hostile.SECRET`) must never appear in any output."""
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def private_server() -> Iterator[FeedServer]:
    """A feed on 127.0.0.2: another host on the loopback network, as an intranet server is."""
    server = FeedServer("127.0.0.2")
    server.route("/feed.xml", Reply.feed(rss(rss_items(2, "Intranet"))))
    yield server
    server.close()


@pytest.fixture
def hostile_server(secret_file: Path, private_server: FeedServer) -> Iterator[HostileServer]:
    """`tests.hostile.HostileServer`, calm until a test sets `attacking`."""
    server = HostileServer(secret_file, private_server.url("/feed.xml"))
    yield server
    server.close()
