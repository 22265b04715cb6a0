"""How feedhub's costs grow: update time with sources, publish time with the store, memory, idle.

    python -m benchmarks.growth                    # everything below, about 15 minutes
    python -m benchmarks.growth --quick            # tiny sizes, a few seconds (the smoke test)
    python -m benchmarks.growth --parts update,publish,memory,idle --json out.json

- update: `run --once --all` over 100, 1,000 and 10,000 sources (--sources; 10 entries
  each, 10 ms latency by default), cold (every entry new) then warm (every feed 304):
  the time should grow linearly with the sources (the "ms per source" column).
- publish: `publish` (20 categories and the "all" feed) from stores of 10,000, 100,000
  and 1,000,000 entries (--store-sizes), written straight into the store with SQL
  inserts; the output is the same size for each, so the cost should stay flat. The
  query plan of a category's newest entries is printed: it must walk the
  (category, sort_time) index, not the whole table.
- memory: peak RSS and PSS of the whole process tree during a cold update of 200 and
  of 2,000 feeds of 50 entries (--memory-feeds).
- idle: CPU time of a daemon tick with nothing due (`Hub.run_once`, process time,
  --ticks of them) with 1,000 sources in the store.

It prints a table, writes the plot (benchmarks/growth.png, --plot) and, when asked,
the rows as JSON. Scratch files go to benchmarks/_work/growth/ (--work).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks import corpus
from benchmarks.contenders import REPO, environment, feedhub_hub
from benchmarks.context import Context, Source
from benchmarks.measure import Measurement, measure_command
from benchmarks.server import Site, loopback_hosts, serving

WORK = REPO / "benchmarks" / "_work" / "growth"
PLOT = REPO / "benchmarks" / "growth.png"
PARTS = ("update", "publish", "memory", "idle")
MIB = 1024 * 1024
STORE_SOURCES = 1000  # sources the generated stores' entries are spread over


@dataclass(frozen=True, slots=True)
class Options:
    """The command line, resolved."""

    parts: tuple[str, ...]
    sources: tuple[int, ...]
    entries: int
    latency: float
    store_sizes: tuple[int, ...]
    memory_feeds: tuple[int, ...]
    memory_entries: int
    memory_latency: float
    ticks: int
    idle_sources: int
    work: Path
    plot: Path | None
    json: Path | None


@dataclass(frozen=True, slots=True)
class Row:
    """One measured run of one part."""

    part: str
    size: int  # sources, stored entries, feeds or sources in the store, by part
    scenario: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float = 0.0
    peak_pss_mib: float = 0.0
    max_rss_mib: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)


def parse_options(argv: Sequence[str] | None) -> Options:
    """Read the command line; --quick shrinks every size."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.growth", description=__doc__)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--sources", default="100,1000,10000")
    parser.add_argument("--entries", type=int, default=10, help="entries per source (update)")
    parser.add_argument("--latency", type=float, default=0.01, help="seconds per answer (update)")
    parser.add_argument("--store-sizes", default="10000,100000,1000000")
    parser.add_argument("--memory-feeds", default="200,2000")
    parser.add_argument("--memory-entries", type=int, default=50)
    parser.add_argument("--memory-latency", type=float, default=0.05)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--idle-sources", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(
            sources="3,6",
            entries=3,
            latency=0.0,
            store_sizes="100,200",
            memory_feeds="3",
            memory_entries=3,
            memory_latency=0.0,
            ticks=5,
            idle_sources=10,
        )
    return Options(
        parts=_names(args.parts),
        sources=_numbers(args.sources),
        entries=args.entries,
        latency=args.latency,
        store_sizes=_numbers(args.store_sizes),
        memory_feeds=_numbers(args.memory_feeds),
        memory_entries=args.memory_entries,
        memory_latency=args.memory_latency,
        ticks=args.ticks,
        idle_sources=args.idle_sources,
        work=args.work.resolve(),
        plot=args.plot,
        json=args.json,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the parts asked for; print the table, write the plot and the JSON."""
    options = parse_options(argv)
    shutil.rmtree(options.work, ignore_errors=True)
    options.work.mkdir(parents=True)
    rows: list[Row] = []
    notes: list[str] = []
    if "update" in options.parts:
        for count in options.sources:
            rows += update_rows("update", count, options.entries, options.latency, options)
    if "publish" in options.parts:
        for size in options.store_sizes:
            row, plan = publish_row(size, options)
            rows.append(row)
            notes.append(f"query plan of a category's newest entries, {size} entries: {plan}")
    if "memory" in options.parts:
        for count in options.memory_feeds:
            rows += update_rows(
                "memory",
                count,
                options.memory_entries,
                options.memory_latency,
                options,
                scenarios=("cold",),
            )
    if "idle" in options.parts:
        rows.append(idle_row(options))
    print(table(rows))
    for note in notes:
        print(note)
    if options.plot is not None and {"update", "publish"} & set(options.parts):
        plot(rows, options.plot)
        print(f"plot: {options.plot}")
    if options.json is not None:
        options.json.write_text(json.dumps([asdict(row) for row in rows], indent=1))
    return 0


# --- update and memory: run --once --all over a served corpus ------------------------


def update_rows(
    part: str,
    count: int,
    entries: int,
    latency: float,
    options: Options,
    scenarios: Sequence[str] = ("cold", "warm"),
) -> list[Row]:
    """`run --once --all` over `count` feeds of `entries` entries: cold, then warm."""
    _progress(f"{part}: {count} feeds x {entries} entries, latency {latency * 1000:g} ms")
    feeds = corpus.generate(count, entries)
    site = Site(latency=latency)
    with serving(site, loopback_hosts(min(20, count))) as farm:
        urls = {feed.index: farm.url(feed.index, feed.path) for feed in feeds}
        for feed in feeds:
            body = corpus.render(feed, urls[feed.index])
            site.put(feed.path, body, feed.content_type, feed.modified)
        work = options.work / f"{part}-{count}"
        sources = tuple(Source(urls[f.index], f.path.strip("/")) for f in feeds)
        context = Context(work, sources, corpus.LABELS, max_entries=50)
        context.save()
        feedhub_hub.prepare(context)
        rows = []
        for scenario in scenarios:
            site.reset_counters()
            measured = _measure(feedhub_hub.command(scenario, context), work / f"{scenario}.log")
            served = site.counters()
            rows.append(
                _row(
                    part,
                    count,
                    scenario,
                    measured,
                    {
                        "ms per source": round(measured.wall_s * 1000 / count, 2),
                        "200": served.get("200", 0),
                        "304": served.get("304", 0),
                    },
                )
            )
    return rows


# --- publish: stores of a given size, written directly -------------------------------


def publish_row(size: int, options: Options) -> tuple[Row, str]:
    """`publish` from a store of `size` entries; and the query plan of one category's page."""
    _progress(f"publish: generating a store of {size} entries")
    work = options.work / f"publish-{size}"
    sources = tuple(
        Source(f"http://source-{n}.example/feed.xml", f"source {n}") for n in range(STORE_SOURCES)
    )
    context = Context(work, sources, corpus.LABELS, max_entries=50)
    context.save()
    feedhub_hub.prepare(context)
    fill_store(f"sqlite:///{feedhub_hub.database(context)}", size, sources)
    plan = newest_entries_plan(f"sqlite:///{feedhub_hub.database(context)}")
    _progress(f"publish: {size} entries")
    measured = _measure(feedhub_hub.command("publish", context), work / "publish.log")
    # What "all" shows: a store whose entries no category may show would publish nothing.
    shown = (work / "public" / "all" / "atom.xml").read_text(encoding="utf-8").count("<entry>")
    notes = {"store MB": _megabytes(work), "entries in all": shown}
    return _row("publish", size, "publish", measured, notes), plan


def fill_store(url: str, size: int, sources: Sequence[Source]) -> None:
    """A store of `size` entries over `sources`, each in "all" and one of the categories
    (its story's categories and its own routes)."""
    from feedhub.store.facade import Store
    from feedhub.store.schema import categories, entries, entry_categories, entry_routes
    from feedhub.store.schema import sources as source_table

    store = Store.open(url)
    slugs = [feedhub_hub.slug(label) for label in corpus.LABELS]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rng = random.Random(size)
    try:
        with store.writing() as connection:
            connection.execute(
                source_table.insert(),
                [
                    {"id": n + 1, "url": s.url, "name": s.name, "active": True, "health": "ok"}
                    | {"failures": 0, "permanent_redirects": 0}
                    for n, s in enumerate(sources)
                ],
            )
            connection.execute(
                categories.insert(), [{"slug": slug, "dirty": False} for slug in ["all", *slugs]]
            )
        for batch in _chunks(range(1, size + 1), 20_000):
            rows = [_entry_row(n, len(sources), start, rng) for n in batch]
            with store.writing() as connection:
                connection.execute(entries.insert(), rows)
                placed = [
                    (row, slug) for row in rows for slug in ("all", slugs[row["id"] % len(slugs)])
                ]
                connection.execute(
                    entry_categories.insert(),
                    [
                        {"category": slug, "entry_id": row["id"], "sort_time": row["sort_time"]}
                        for row, slug in placed
                    ],
                )
                # Each entry routed there itself: a category shows only such copies.
                connection.execute(
                    entry_routes.insert(),
                    [{"entry_id": row["id"], "category": slug} for row, slug in placed],
                )
    finally:
        store.close()


def _entry_row(number: int, sources: int, start: datetime, rng: random.Random) -> dict[str, object]:
    # Entries arrive over about three years in random order, as polls of many sources do.
    when = start + timedelta(seconds=rng.randrange(100_000_000))
    link = f"http://source-{number % sources}.example/articles/{number}"
    return {
        "id": number,
        "uid": f"urn:uuid:00000000-0000-0000-0000-{number:012d}",
        "source_id": number % sources + 1,
        "key": link,
        "canonical_link": link.removeprefix("http://"),
        "link": link,
        "title": f"Article {number}: a headline of a typical length for a news story",
        "summary_html": f"<p>The summary of article {number}, a sentence or two long.</p>",
        "content_html": f"<p>The body of article {number}.</p>" * 12,
        "authors": '["A. Writer"]',
        "labels": '["World"]',
        "enclosures": "[]",
        "published": when,
        "updated": when,
        "first_seen": when,
        "sort_time": when,
        "content_hash": f"{number:064d}",
    }


def newest_entries_plan(url: str) -> str:
    """SQLite's plan for one category's newest entries, as `feedhub publish` asks for them."""
    from feedhub.store.facade import Store
    from feedhub.store.published import latest_entries_query

    store = Store.open(url)
    try:
        query = latest_entries_query("world", 50)
        with store.reading() as connection:
            compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
    finally:
        store.close()
    return "; ".join(str(row[-1]) for row in plan)


# --- idle: the CPU of a daemon tick with nothing due ---------------------------------


def idle_row(options: Options) -> Row:
    """Mean CPU (process time) of `Hub.run_once` when no source is due."""
    from feedhub.app.hub import Hub
    from feedhub.config.settings import load_config
    from feedhub.store.facade import Store

    _progress(f"idle: {options.ticks} ticks with {options.idle_sources} sources, none due")
    work = options.work / "idle"
    sources = tuple(
        Source(f"http://source-{n}.example/feed.xml", f"source {n}")
        for n in range(options.idle_sources)
    )
    context = Context(work, sources, corpus.LABELS)
    context.save()
    feedhub_hub.prepare(context)
    settings = load_config(feedhub_hub.config_path(context))
    store = Store.open(settings.hub.database)
    # Every source was just polled: the next is half an hour away.
    now = datetime.now(UTC)
    Hub(settings, store, lambda: now + timedelta(minutes=30)).sync_sources()
    hub = Hub(settings, store, lambda: now)
    try:
        for _ in range(3):  # the first ticks write the (empty) feeds once
            hub.run_once()
        cpu: list[float] = []
        started = time.perf_counter()
        for _ in range(options.ticks):
            before = time.process_time()
            summary = hub.run_once()
            cpu.append(time.process_time() - before)
            assert summary.polled == 0, "a source was due"
        wall = (time.perf_counter() - started) / options.ticks
    finally:
        hub.close()
        store.close()
    return Row(
        "idle",
        options.idle_sources,
        "tick",
        wall,
        statistics.mean(cpu),
        notes={
            "CPU ms per tick": round(statistics.mean(cpu) * 1000, 2),
            "p95 ms": round(sorted(cpu)[int(len(cpu) * 0.95) - 1] * 1000, 2),
            "ticks": options.ticks,
        },
    )


# --- output --------------------------------------------------------------------------


def table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table."""
    header = ["part", "size", "scenario", "wall s", "CPU s", "peak RSS MiB", "peak PSS MiB"]
    header += ["max RSS MiB", "notes"]
    cells = [header] + [
        [
            row.part,
            f"{row.size:,}",
            row.scenario,
            f"{row.wall_s:.3f}",
            f"{row.cpu_s:.3f}",
            f"{row.peak_rss_mib:.1f}",
            f"{row.peak_pss_mib:.1f}",
            f"{row.max_rss_mib:.1f}",
            " ".join(f"{key}={value}" for key, value in row.notes.items()),
        ]
        for row in rows
    ]
    widths = [max(len(line[n]) for line in cells) for n in range(len(header) - 1)]
    lines = []
    for line in cells:
        padded = [text.ljust(width) for text, width in zip(line, widths, strict=False)]
        lines.append("  ".join([*padded, line[-1]]).rstrip())
    return "\n".join(lines)


def plot(rows: Sequence[Row], path: Path) -> None:
    """Update time against sources and publish time against stored entries, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (updates, publishes) = pyplot.subplots(1, 2, figsize=(10, 4))
    for scenario, marker in (("cold", "o-"), ("warm", "s-")):
        points = [(r.size, r.wall_s) for r in rows if r.part == "update" and r.scenario == scenario]
        if points:
            updates.loglog(*zip(*points, strict=True), marker, label=f"{scenario} update")
    if points := [(r.size, r.wall_s) for r in rows if r.part == "update" and r.scenario == "cold"]:
        first_size, first_time = points[0]
        sizes = [size for size, _ in points]
        linear = [first_time * size / first_size for size in sizes]
        updates.loglog(sizes, linear, ":", color="gray", label="linear from the first")
    updates.set(xlabel="sources", ylabel="wall seconds", title="run --once --all")
    updates.legend()
    if points := [(r.size, r.wall_s) for r in rows if r.part == "publish"]:
        publishes.semilogx(*zip(*points, strict=True), "o-", label="publish")
        publishes.set_ylim(bottom=0)
    publishes.set(xlabel="stored entries", ylabel="wall seconds", title="publish 21 feeds")
    publishes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


# --- helpers -------------------------------------------------------------------------


def _measure(argv: list[str], log: Path) -> Measurement:
    measured = measure_command(argv, cwd=REPO, env=environment(), output=log, timeout=3600)
    if measured.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {measured.returncode}): see {log}")
    return measured


def _row(part: str, size: int, scenario: str, m: Measurement, notes: dict[str, object]) -> Row:
    return Row(
        part,
        size,
        scenario,
        m.wall_s,
        m.cpu_s,
        m.peak_rss / MIB,
        m.peak_pss / MIB,
        m.max_rss / MIB,
        notes,
    )


def _megabytes(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.glob("feedhub.sqlite*")) / 1e6, 1)


def _chunks(items: range, size: int) -> Iterator[range]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = set(names) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    return names


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(number) for number in text.split(",") if number.strip())


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
