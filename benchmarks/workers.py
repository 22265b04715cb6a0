"""Poll throughput of 1, 2, 3 `feedhub run` workers sharing one PostgreSQL store.

    python -m benchmarks.workers [--feeds 300] [--entries 10] [--latency 0.2] [--workers 1,2,3]

The corpus of `benchmarks.corpus`, served by the farm of `benchmarks.server` (20
loopback hosts, `latency` seconds before every answer, as a distant web server
would). For each worker count, a fresh schema in the PostgreSQL database
(--database, default the `test` database on 127.0.0.1) gets every feed as a
source, not due yet; the workers (`feedhub run`, the daemon, 8 fetches at once
each) start and settle. Then every source is made due at once, twice:

- `cold`: every body is new: parsed, normalized, stored (CPU-bound);
- `warm`: every source answers 304 Not Modified, a hub's usual round (I/O-bound).

"poll s" is the time from "due" until the last poll was stored: how fast the
workers together drain a round, their start-up excluded. Checked: the farm
answered each feed exactly once per round, and the store holds each entry once
(the same count for every worker count).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from benchmarks import corpus
from benchmarks.contenders import REPO
from benchmarks.contenders.feedhub_hub import config_toml
from benchmarks.context import Context, Source
from benchmarks.server import Site, loopback_hosts, serving
from feedhub.config.settings import load_config
from feedhub.store.facade import Store
from feedhub.store.schema import entries, sources

WORK = REPO / "benchmarks" / "_work" / "workers"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STARTED = "feedhub daemon started"  # what a worker logs once it is ready to claim
ROUNDS = ("cold", "warm")


@dataclass(frozen=True, slots=True)
class Result:
    """One round of one worker count."""

    workers: int
    round: str
    seconds: float
    requests: int
    entries: int


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__)
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--workers", default="1,2,3", help="worker counts, comma-separated")
    parser.add_argument("--database", default=DEFAULT_SERVER, help="a PostgreSQL URL")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="idle seconds before each round (publishing)"
    )
    options = parser.parse_args(argv)
    feeds = corpus.generate(options.feeds, options.entries)
    site = Site(latency=options.latency)
    results: list[Result] = []
    with serving(site, loopback_hosts(options.hosts)) as farm:
        urls = [farm.url(feed.index, feed.path) for feed in feeds]
        for feed, url in zip(feeds, urls, strict=True):
            site.put(feed.path, corpus.render(feed, url), feed.content_type, feed.modified)
        for count in (int(n) for n in options.workers.split(",")):
            context = Context(
                work_dir=WORK / f"{count}-workers",
                sources=tuple(Source(url, f"feed {n}") for n, url in enumerate(urls)),
                labels=corpus.LABELS,
            )
            results += run(count, context, options, site)
    print(table(results, options))


def run(count: int, context: Context, options: argparse.Namespace, site: Site) -> list[Result]:
    """`count` workers, started and idle, get every source due at once: time each round."""
    with fresh_schema(options.database) as url:
        config = write_config(context, url)
        store = Store.open(url)
        try:
            # Nothing is due while the workers start (Python, imports, connections).
            later = datetime.now(UTC) + timedelta(days=1)
            store.sync_sources(load_config(config).sources, later)
            logs = [context.work_dir / f"worker-{n}.log" for n in range(count)]
            workers = [launch(config, log) for log in logs]
            try:
                wait_for(lambda: all(STARTED in log.read_text() for log in logs), logs)
                results = [drain(count, name, store, site, logs, options.settle) for name in ROUNDS]
            finally:
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                codes = [worker.wait() for worker in workers]
            if any(codes):
                sys.exit(f"a worker failed: see {logs[next(n for n, c in enumerate(codes) if c)]}")
        finally:
            store.close()
    for result in results:
        if result.requests != len(context.sources):
            sys.exit(f"{result}: not one request per feed ({len(context.sources)} feeds)")
    return results


def drain(
    count: int, name: str, store: Store, site: Site, logs: Sequence[Path], settle: float
) -> Result:
    """Let the workers settle (publish), make every source due, wait until all were polled."""
    time.sleep(settle)
    site.reset_counters()
    due = datetime.now(UTC)
    with store.writing() as connection:
        total = connection.execute(sources.update().values(next_due=due)).rowcount
    polled = sa.select(sa.func.count()).where(sources.c.last_attempt >= due)
    wait_for(lambda: scalar(store, polled) == total, logs)
    drained = scalar(store, sa.select(sa.func.max(sources.c.last_attempt)))
    return Result(
        workers=count,
        round=name,
        seconds=(drained - due).total_seconds(),
        requests=site.counters().get("requests", 0),
        entries=int(scalar(store, sa.select(sa.func.count()).select_from(entries))),
    )


def scalar(store: Store, query: sa.Select[Any]) -> Any:
    with store.reading() as connection:
        return connection.execute(query).scalar()


def wait_for(condition: Callable[[], bool], logs: Sequence[Path], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out; see the workers' logs: {', '.join(map(str, logs))}")
        time.sleep(0.02)


def write_config(context: Context, url: str) -> Path:
    """The benchmark's feedhub config (see `benchmarks.contenders.feedhub_hub`) on `url`,
    with a short tick, so that workers see due sources at once."""
    text = config_toml(context)
    for key, value in (("database", url), ("interval", '30m"\ntick = "0.1s')):
        text = re.sub(rf"^{key} = .*$", f'{key} = "{value}"', text, count=1, flags=re.M)
    context.work_dir.mkdir(parents=True, exist_ok=True)
    path = context.work_dir / "feedhub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def launch(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


@contextmanager
def fresh_schema(server: str) -> Iterator[str]:
    """A new schema on the server, as the URL of a store in it; dropped afterwards."""
    name = f"feedhub_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield (
            sa.make_url(server)
            .update_query_dict({"options": f"-csearch_path={name}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{name}" CASCADE')


def table(results: Sequence[Result], options: argparse.Namespace) -> str:
    alone = {r.round: r.seconds for r in results if r.workers == results[0].workers}
    lines = [
        f"{options.feeds} feeds x {options.entries} entries, {options.latency:g} s latency, "
        f"{options.hosts} hosts; `feedhub run` workers on one PostgreSQL store",
        "",
        "| workers | round | poll s | feeds/s | speed-up | requests | entries |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.workers} | {r.round} | {r.seconds:.1f} | {r.requests / r.seconds:.1f} "
        f"| {alone[r.round] / r.seconds:.2f}x | {r.requests} | {r.entries} |"
        for r in sorted(results, key=lambda r: (ROUNDS.index(r.round), r.workers))
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
