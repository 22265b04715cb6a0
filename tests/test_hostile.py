"""Every attack of `tests.hostile` at once, with healthy sources alongside, through `run --once`.

First every source serves a calm feed and is stored; then the hostile ones
attack. The run (with its parsing workers) must stay under 300 MB and end
each attack within its deadline; each attacked source is recorded with the
right reason; the healthy sources are still published; nothing stored earlier
is lost; no local file content appears in any output or in the store.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from benchmarks.measure import Measurement, measure_command
from feedhub.config.settings import load_config
from feedhub.core.models import SourceHealth
from feedhub.store.facade import Store
from tests.conftest import ROOT, ConfigWriter
from tests.hostile import SECRET, HostileServer, growing_feed
from tests.httpserver import FeedServer

MAX_MEMORY = 300 << 20  # bytes
DEADLINE = 5  # seconds, [fetch].deadline of the run
FAILING, OK = SourceHealth.FAILING, SourceHealth.OK
ATTACKS = {  # path: what the source must show after the attack
    "/huge-body": (FAILING, "over max_body_bytes (10485760)"),
    "/gzip-bomb": (FAILING, "over max_decompressed_bytes (20971520)"),
    "/drip-body": (FAILING, f"longer than the deadline ({DEADLINE}s)"),
    "/drip-headers": (FAILING, f"longer than the deadline ({DEADLINE}s)"),
    "/redirect-loop": (FAILING, "redirect loop"),
    "/redirect-chain": (FAILING, "more than 5 redirects"),
    "/redirect-private": (FAILING, "127.0.0.2 resolves to the non-public address"),
    "/redirect-file": (FAILING, "redirect to a non-http(s) URL"),
    "/billion-laughs": (FAILING, "declares XML entities"),
    "/quadratic-blowup": (FAILING, "declares XML entities"),
    "/external-entity": (FAILING, "declares XML entities"),
    "/random-bytes": (FAILING, "not an RSS, Atom or JSON feed"),
    # Capped, not failed: what is within the limits is kept, and the source says so.
    "/many-entries": (OK, "only the first 5000 of 100000 entries were read"),
    "/huge-title": (OK, "1 entries had fields cut to max_field_bytes (262144)"),
}
HEALTHY = 3
ENDLESS = ("/huge-body", "/drip-body", "/drip-headers")


def run_measured(config: Path, log: Path) -> Measurement:
    """`run --once --all` measured with the benchmarks' tools: `max_rss` is the largest process
    of its tree (parsing workers included), `peak_pss` the tree's sampled footprint."""
    command = [sys.executable, "-m", "feedhub", "--config", str(config), "run", "--once", "--all"]
    return measure_command(command, cwd=ROOT, output=log, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_attacks_fail_alone_in_bounded_memory_and_time(
    hostile_server: HostileServer,
    feed_server: FeedServer,
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    hostile_sources = [
        {"url": hostile_server.url(path), "name": path.strip("/"), "allow_private_networks": True}
        for path in ATTACKS
    ]
    healthy = [
        {
            "url": feed_server.route(f"/healthy-{n}.xml", growing_feed(f"Healthy{n}")),
            "name": f"healthy-{n}",
            "categories": ["healthy"],
            "allow_private_networks": True,
        }
        for n in range(HEALTHY)
    ]
    config = write_config(
        hostile_sources + healthy,
        {"healthy": {"title": "Healthy"}},
        fetch={"allow_private_networks": False, "deadline": DEADLINE, "timeout": 3},
    )
    settings = load_config(config)

    log = tmp_path / "run.log"
    calm = run_measured(config, log)
    assert calm.returncode == 0, log.read_text()
    stored_before = stored_uids(settings.hub.database)
    assert len(stored_before) == 3 * len(ATTACKS) + 2 * HEALTHY

    hostile_server.attacking = True
    hostile_server.visits.clear()  # the calm run's visits ran to their end, as they should
    attacked = run_measured(config, log)
    assert attacked.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    for peak in (attacked.max_rss, attacked.peak_pss):
        assert peak < MAX_MEMORY, f"peak memory {peak >> 20} MiB"

    # Counted, not timed: every exchange is over, and each endless attack (600 seconds of
    # drip, a gigabyte of body) was cut short by the reader, not run to its end.
    for path in ATTACKS:
        for visit in hostile_server.visits_to(path):
            assert visit.ended, path
            assert visit.cut_short or path not in ENDLESS, path

    store = Store.open(settings.hub.database)
    try:
        states = {state.name: state for state in store.source_states()}
    finally:
        store.close()
    for path, (health, reason) in ATTACKS.items():
        state = states[path.strip("/")]
        assert (state.health, reason in (state.last_error or "")) == (health, True), (
            path,
            state.health,
            state.last_error,
        )
    for n in range(HEALTHY):
        assert states[f"healthy-{n}"].health is OK

    stored_after = stored_uids(settings.hub.database)
    assert stored_before <= stored_after
    outputs = [path for path in settings.hub.output_dir.rglob("*") if path.is_file()]
    everything = b"".join(path.read_bytes() for path in outputs)
    for n in range(HEALTHY):
        assert f"Healthy{n} 3".encode() in everything  # the healthy sources' new entries
    assert SECRET.encode() not in everything
    assert SECRET.encode() not in (tmp_path / "feedhub.sqlite").read_bytes()


def stored_uids(database_url: str) -> set[str]:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        return {uid for (uid,) in db.execute("SELECT uid FROM entries")}
