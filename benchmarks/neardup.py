"""What near-duplicate detection costs: per entry stored, and the store's growth.

    python -m benchmarks.neardup                 # 10,000 entries stored, keys to 1,000,000
    python -m benchmarks.neardup --quick         # toy sizes, a few seconds (the smoke test)

SQLite only (PostgreSQL was not measured).

- store: entries stored through `Store.store_entries` (polls of 50 entries from 20
  sources, bodies of 120 words, one entry in ten a copy of an earlier story at
  another source), with detection on and then off in a fresh store: the time per
  entry of each, their difference (the cost of detection), and the store's bytes
  per entry (SQLite: the file; the candidate keys alone: their table and index).
- keys: the candidate-key table alone (`neardup_keys`, 16 rows per entry), filled to
  each size in --key-sizes, and the time of the lookup one new entry makes (its 16
  keys, the newest 32 entries sharing one) at each size: it must stay flat.

Scratch files go to benchmarks/_work/neardup/ (--work).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import sqlalchemy as sa

from feedhub.config.settings import SourceSettings
from feedhub.core.models import NotModified, SourceState
from feedhub.parse.document import parse_document
from feedhub.parse.normalize import normalize_entry
from feedhub.rules import neardup, schedule
from feedhub.rules.routing import ALL
from feedhub.store.entries import RoutedEntry
from feedhub.store.facade import Store
from feedhub.store.neardup import MAX_CANDIDATES

WORK = Path(__file__).parent / "_work" / "neardup"
START = datetime(2025, 7, 1, tzinfo=UTC)
SOURCES = 20
PER_POLL = 50
WORDS = 120
TIMING = schedule.Timing(timedelta(minutes=30), timedelta(minutes=1), timedelta(days=1))
VOCABULARY = [f"w{n}" for n in range(20_000)]


@dataclass(frozen=True, slots=True)
class Story:
    number: int
    words: tuple[str, ...]


def stories(count: int, seed: int = 8) -> Iterator[tuple[int, Story]]:
    """(source, story): one in ten repeats an earlier story at another source."""
    draw = random.Random(seed)
    told: list[Story] = []
    for number in range(count):
        if told and draw.random() < 0.1:
            story = draw.choice(told[-500:])
        else:
            story = Story(number, tuple(draw.choices(VOCABULARY, k=WORDS)))
            told.append(story)
        yield number % SOURCES, story


def document(source: int, batch: Sequence[tuple[int, Story]]) -> bytes:
    items = "".join(
        f"<item><title>Story {story.number}</title>"
        f"<link>https://s{source}.example/{number}</link><guid>s{source}-{number}</guid>"
        f"<pubDate>{format_datetime(START + timedelta(minutes=number))}</pubDate>"
        f"<description>{escape(' '.join(story.words))}</description></item>"
        for number, story in batch
    )
    return f'<rss version="2.0"><channel><title>s{source}</title>{items}</channel></rss>'.encode()


def store_run(url: str, count: int, policy: neardup.Policy) -> float:
    """Seconds spent in `store_entries` storing `count` entries into a fresh store."""
    store = Store.open(url)
    try:
        configured = [
            SourceSettings(url=f"https://s{n}.example/feed", name=f"s{n}") for n in range(SOURCES)
        ]
        store.sync_sources(configured, START)
        claimed = store.claim_due_sources("bench", START, TIMING.max_interval, None)
        states = {state.url: state for state in claimed}
        pending: dict[int, list[tuple[int, Story]]] = {n: [] for n in range(SOURCES)}
        spent = 0.0
        for number, (source, story) in enumerate(stories(count)):
            pending[source].append((number, story))
            if len(pending[source]) == PER_POLL or number == count - 1:
                spent += sum(
                    _store(store, states[f"https://s{n}.example/feed"], n, batch, policy)
                    for n, batch in pending.items()
                    if batch and (n == source or number == count - 1)
                )
                pending = {
                    n: [] if (n == source or number == count - 1) else b for n, b in pending.items()
                }
        return spent
    finally:
        store.close()


def _store(
    store: Store,
    state: SourceState,
    source: int,
    batch: Sequence[tuple[int, Story]],
    policy: neardup.Policy,
) -> float:
    parsed = parse_document(document(source, batch), state.url, {"content-type": "text/xml"})
    routed = [RoutedEntry(normalize_entry(e), frozenset({ALL})) for e in parsed.entries]
    outcome = NotModified(url=state.url, headers={})
    result = schedule.after_success(
        state, outcome, START, TIMING, body_hash=None, feed_hint_seconds=None
    )
    began = time.perf_counter()
    store.store_entries(state, routed, result, START, policy=policy)
    return time.perf_counter() - began


def sqlite_bytes(path: Path, *tables: str) -> int:
    """Bytes of `tables` and their indexes in an SQLite file (the whole file if none)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        if not tables:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages * size)
        names = ", ".join(f"'{name}'" for name in tables)
        used = connection.exec_driver_sql(
            "SELECT sum(pgsize) FROM dbstat WHERE name IN "
            f"({names}) OR name IN (SELECT name FROM sqlite_master WHERE tbl_name IN ({names}))"
        ).scalar_one()
    engine.dispose()
    return int(used or 0)


KEYS_DDL = (
    "CREATE TABLE neardup_keys (band_key BIGINT NOT NULL, entry_id INTEGER NOT NULL, "
    "PRIMARY KEY (band_key, entry_id))",
    "CREATE INDEX ix_neardup_keys_entry ON neardup_keys (entry_id)",
)
# The lookup `feedhub.store.neardup` makes for one new entry.
LOOKUP = sa.text(
    "SELECT DISTINCT entry_id FROM neardup_keys WHERE band_key IN :keys "
    "ORDER BY entry_id DESC LIMIT :limit"
).bindparams(sa.bindparam("keys", expanding=True))


def keys_run(url: str, sizes: Sequence[int], lookups: int) -> list[tuple[int, float, int]]:
    """(entries, median lookup ms, bytes per entry) with the key table at each size."""
    engine = sa.create_engine(url)
    draw = random.Random(16)
    rows: list[tuple[int, float, int]] = []
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS neardup_keys")
        for statement in KEYS_DDL:
            connection.exec_driver_sql(statement)
    filled = 0
    for size in sizes:
        while filled < size:
            chunk = min(20_000, size - filled)
            batch = [
                {"band_key": draw.getrandbits(64) - 2**63, "entry_id": entry_id}
                for entry_id in range(filled + 1, filled + chunk + 1)
                for _ in range(neardup.BANDS)
            ]
            with engine.begin() as connection:
                connection.execute(
                    sa.text("INSERT INTO neardup_keys VALUES (:band_key, :entry_id)"), batch
                )
            filled += chunk
        with engine.connect() as connection:
            existing = list(
                connection.exec_driver_sql(
                    "SELECT band_key FROM neardup_keys ORDER BY entry_id DESC LIMIT 1000"
                ).scalars()
            )
            times = []
            for n in range(lookups):
                # A new entry: 15 keys nobody has, one shared with a stored entry.
                keys = [draw.getrandbits(64) - 2**63 for _ in range(neardup.BANDS - 1)]
                keys.append(existing[n % len(existing)])
                began = time.perf_counter()
                connection.execute(LOOKUP, {"keys": keys, "limit": MAX_CANDIDATES}).all()
                times.append(time.perf_counter() - began)
        per_entry = sqlite_bytes(Path(url.removeprefix("sqlite:///")), "neardup_keys") // size
        rows.append((size, statistics.median(times) * 1000, per_entry))
    engine.dispose()
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes, a few seconds")
    parser.add_argument("--entries", type=int, default=10_000, help="entries stored")
    parser.add_argument("--key-sizes", default="10000,100000,1000000")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=WORK)
    options = parser.parse_args(argv)
    entries = 500 if options.quick else options.entries
    sizes = [1000, 5000] if options.quick else [int(n) for n in options.key_sizes.split(",")]
    lookups = 100 if options.quick else options.lookups
    shutil.rmtree(options.work, ignore_errors=True)
    options.work.mkdir(parents=True)

    print(f"store: {entries} entries in polls of {PER_POLL} from {SOURCES} sources")
    print(f"{'detection':<10} {'ms/entry':>9} {'bytes/entry':>12} {'keys bytes/entry':>17}")
    spent = {}
    for label, policy in (("on", neardup.Policy()), ("off", neardup.Policy(enabled=False))):
        path = options.work / f"store-{label}.sqlite"
        spent[label] = store_run(f"sqlite:///{path}", entries, policy)
        whole = sqlite_bytes(path) // entries
        keys = sqlite_bytes(path, "neardup_keys") // entries
        print(f"{label:<10} {spent[label] / entries * 1000:>9.3f} {whole:>12} {keys:>17}")
    cost = (spent["on"] - spent["off"]) / entries * 1000
    print(f"detection costs {cost:.3f} ms per entry stored")

    print(f"\nkeys: the candidate-key table alone, {neardup.BANDS} keys per entry")
    print(f"{'entries':>10} {'lookup ms':>10} {'bytes/entry':>12}")
    url = f"sqlite:///{options.work / 'keys.sqlite'}"
    for size, milliseconds, per_entry in keys_run(url, sizes, lookups):
        print(f"{size:>10} {milliseconds:>10.3f} {per_entry:>12}")


if __name__ == "__main__":
    main()
