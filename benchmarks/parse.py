"""What parsing costs per entry, by the fast path and by feedparser, and a parse worker's memory.

    python -m benchmarks.parse [--feeds 200] [--entries 50] [--repeat 5]

The corpus of `benchmarks.corpus`, rendered in memory. For each path (the fast path,
`feedhub.parse.fastpath`, which reads every corpus document; feedparser, `fast=False`),
the best of `repeat` passes over every document, per entry: `parse_document` alone, then
with `normalize_entries`. Then, per path, a parse worker spawned as `feedhub.parse.pool`
spawns them parses and normalizes every document: its peak RSS, its USS and PSS at the
end (psutil), and whether it had loaded feedparser or lxml (both, on the feedparser path:
`feedhub.parse.document` imports the fast path).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.corpus import generate, render
from feedhub.parse.document import parse_document
from feedhub.parse.normalize import normalize_entries

BASE_URL = "http://127.0.0.2:8000"
PATHS = {"fast path": True, "feedparser": False}
Document = tuple[bytes, str, dict[str, str]]  # body, URL, response headers


def corpus_documents(feeds: int, entries: int) -> list[Document]:
    return [
        (
            render(feed, BASE_URL + feed.path),
            BASE_URL + feed.path,
            {"content-type": feed.content_type},
        )
        for feed in generate(feeds, entries)
    ]


def parse(document: Document, *, fast: bool, normalize: bool) -> int:
    """Parse one document (and normalize its entries); how many entries it had."""
    body, url, headers = document
    parsed = parse_document(body, url, headers, fast=fast)
    if normalize:
        normalize_entries(parsed.entries)
    return len(parsed.entries)


def best_per_entry(documents: list[Document], repeat: int, *, fast: bool, normalize: bool) -> float:
    """Microseconds per entry, the best of `repeat` passes over every document."""
    parse(documents[0], fast=fast, normalize=normalize)  # the first one loads the parsers
    best, entries = float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        entries = sum(parse(document, fast=fast, normalize=normalize) for document in documents)
        best = min(best, time.perf_counter() - started)
    return best / max(entries, 1) * 1e6


def worker_memory() -> str:
    """This worker's memory and heavy modules, in a line."""
    import psutil

    full = psutil.Process().memory_full_info()
    # VmHWM, not ru_maxrss: a spawned process's ru_maxrss counts its parent's at the fork.
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    peak = int(status["VmHWM"].split()[0]) / 1024
    loaded = [name for name in ("feedparser", "lxml") if name in sys.modules]
    return (
        f"peak RSS {peak:.1f} MiB, USS {full.uss / 2**20:.1f} MiB, "
        f"PSS {full.pss / 2**20:.1f} MiB; loaded: {', '.join(loaded) or 'neither'}"
    )


def in_a_worker(documents: list[Document], *, fast: bool) -> str:
    """Parse and normalize every document in a fresh spawned worker; its memory after."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as worker:
        for document in documents:
            worker.submit(parse, document, fast=fast, normalize=True).result()
        return worker.submit(worker_memory).result()


def main() -> None:
    """Print the cost per entry by each path, then each path's worker memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    documents = corpus_documents(args.feeds, args.entries)
    print(f"{args.feeds} feeds x {args.entries} entries, best of {args.repeat} passes")
    for name, fast in PATHS.items():
        parsing = best_per_entry(documents, args.repeat, fast=fast, normalize=False)
        both = best_per_entry(documents, args.repeat, fast=fast, normalize=True)
        print(f"{name:10}  parse {parsing:7.1f} us/entry  parse+normalize {both:7.1f} us/entry")
    for name, fast in PATHS.items():
        print(f"{name:10}  worker: {in_a_worker(documents, fast=fast)}")


if __name__ == "__main__":
    main()
