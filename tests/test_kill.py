"""`kill -9` at random moments of `run --once --all` over 30 sources, again and again.

After every kill: the store opens and passes SQLite's integrity check, holds
every entry it held before (nothing committed is lost), and every published
file is whole and valid (Atom against RFC 4287's schema). After the last kill a
normal run completes. The kill times are random but seeded (printed on failure).
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import ATOM_SCHEMA, ConfigWriter, run_feedhub
from tests.hostile import growing_feed
from tests.httpserver import FeedServer

SOURCES = 30
KILLS = 20
SEED = 20250704


def stored_uids(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {uid for (uid,) in db.execute("SELECT uid FROM entries")}


def check_outputs(output_dir: Path, schema: etree.RelaxNG) -> int:
    """Every published document is whole and valid; returns how many there are."""
    checked = 0
    for path in sorted(output_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue  # .name.XXXX: a temporary file a kill left behind, never served
        body = path.read_bytes()
        if path.name == "atom.xml":
            assert schema.validate(etree.fromstring(body)), (path, schema.error_log)
        elif path.suffix in (".xml", ".opml"):
            etree.fromstring(body)
        elif path.suffix == ".json":
            json.loads(body)
        checked += 1
    return checked


def let_leases_run_out(database: Path) -> None:
    """A killed run's claim on its sources lasts [schedule].lease (so that another worker
    does not fetch them meanwhile); let it run out now, as time would."""
    with sqlite3.connect(database) as db:
        db.execute("UPDATE sources SET lease_owner = NULL, lease_until = NULL")


def run_and_kill(config: Path, after: float) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "feedhub", "--config", str(config), "run", "--once", "--all"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(after)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kill_9_at_random_moments_loses_nothing_committed(
    feed_server: FeedServer, write_config: ConfigWriter, tmp_path: Path
) -> None:
    sources = [
        {
            "url": feed_server.route(
                f"/{n}.xml", growing_feed(f"K{n}", delay=0.5 if n % 5 == 0 else 0)
            ),
            "name": f"K{n}",
            "categories": ["even" if n % 2 == 0 else "odd"],
        }
        for n in range(SOURCES)
    ]
    categories = {"even": {"title": "Even"}, "odd": {"title": "Odd"}}
    config = write_config(sources, categories)
    database, output_dir = tmp_path / "feedhub.sqlite", tmp_path / "public"
    schema = etree.RelaxNG(file=str(ATOM_SCHEMA))

    started = time.monotonic()
    first = run_feedhub("--config", config, "run", "--once", "--all")
    assert first.returncode == 0, first.stderr
    full_run = time.monotonic() - started
    before = stored_uids(database)
    assert check_outputs(output_dir, schema) > 0

    draw = random.Random(SEED)
    for kill in range(KILLS):
        after = draw.uniform(0.05, full_run)
        run_and_kill(config, after)
        now = stored_uids(database)
        lost = before - now
        assert not lost, f"kill {kill} after {after:.2f}s (seed {SEED}) lost {len(lost)} entries"
        check_outputs(output_dir, schema)
        before = now
        let_leases_run_out(database)

    last = run_feedhub("--config", config, "run", "--once", "--all")
    assert last.returncode == 0, last.stderr
    assert f"polled {SOURCES} sources (0 failing)" in last.stdout
    assert stored_uids(database) > before
    check_outputs(output_dir, schema)
