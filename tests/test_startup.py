"""A warm `run --once` (every source answers 304) loads no parser, generator or template
engine: feedparser, feedgen, jinja2 and lxml are imported only when a body is parsed or a
feed, page or OPML file is written. A cold one, which sketches every new entry for
near-duplicate detection, loads no scientific stack (scipy, datasketch). Each run is the
real command in a fresh interpreter."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import tomlkit

from tests.feedfiles import item, rss
from tests.httpserver import FeedServer, Reply

RUN_ONCE = ("run", "--once", "--all")
# (and a store on SQLite never loads PostgreSQL's dialect)
HEAVY = ("feedparser", "feedgen", "jinja2", "lxml", "sqlalchemy.dialects.postgresql")
SCIENTIFIC = ("scipy", "datasketch")
# Runs the console entry point, then prints which of HEAVY the process had loaded at exit.
PROBE = (
    "import atexit, sys\n"
    "heavy = sys.argv.pop(1).split(',')\n"
    "atexit.register(lambda: print('LOADED', sorted(set(heavy) & set(sys.modules))))\n"
    "sys.argv[0] = 'feedhub'\n"
    "from feedhub.console import main\n"
    "main()\n"
)


def run_once(config: Path, watched: tuple[str, ...] = HEAVY) -> list[str]:
    """The `watched` modules a `run --once --all` loaded, from its own process."""
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(watched), "--config", str(config), *RUN_ONCE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    [line] = [line for line in ran.stdout.splitlines() if line.startswith("LOADED ")]
    return [
        name.strip("'") for name in line.removeprefix("LOADED ").strip("[]").split(", ") if name
    ]


def write_config(tmp_path: Path, feed_server: FeedServer, words: str = "") -> Path:
    """A config polling three feeds of one story each (`words` its text)."""
    urls = [
        feed_server.route(
            f"/feed-{number}.xml",
            Reply.feed(
                rss(
                    item(
                        f"Story {number}",
                        guid=f"g{number}",
                        link=f"https://a.example/{number}",
                        description=f"{words} Story {number}.",
                    )
                )
            ),
        )
        for number in range(3)
    ]
    config = tmp_path / "feedhub.toml"
    config.write_text(
        tomlkit.dumps(
            {
                "hub": {
                    "base_url": "http://feeds.test/",
                    "output_dir": "public",
                    "database": f"sqlite:///{tmp_path / 'store.sqlite'}",
                },
                "fetch": {"allow_private_networks": True, "timeout": 5},
                "sources": [{"url": url, "name": f"Source {n}"} for n, url in enumerate(urls)],
            }
        )
    )
    return config


def test_a_warm_run_imports_no_parser_generator_or_templates(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config = write_config(tmp_path, feed_server)
    cold = run_once(config)
    assert set(cold) >= {"feedgen", "jinja2", "lxml"}  # the probe sees what a run loads
    assert (tmp_path / "public" / "index.html").exists()
    warm = run_once(config)
    for number in range(3):
        _, second = feed_server.hits(f"/feed-{number}.xml")
        assert "if-none-match" in second.headers  # so the server answered 304
    assert warm == [], warm


def test_sketching_new_entries_loads_no_scientific_stack(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    long_story = " ".join(f"word{number} of the long story" for number in range(40))
    config = write_config(tmp_path, feed_server, words=long_story)
    assert run_once(config, SCIENTIFIC) == []
    with sqlite3.connect(tmp_path / "store.sqlite") as connection:
        (keys,) = connection.execute("SELECT count(DISTINCT entry_id) FROM neardup_keys").fetchone()
    assert keys == 3  # every entry was sketched and filed


PLAIN_FEED = rss(item("A & B", guid="g", link="https://a.example/1"))
# Parses one body as a parse worker does, then prints its first title and whether the
# process had loaded feedparser (the probe imports no tests module: tests.feedfiles would
# import feedparser itself).
PARSE_PROBE = (
    "import sys\n"
    "from feedhub.parse.docguard import DocumentLimits\n"
    "from feedhub.parse.pool import parse_fetched\n"
    "parsed = parse_fetched(sys.argv[1].encode(), 'https://a.example/feed', {}, DocumentLimits())\n"
    "print(parsed.entries[0].title, '|', 'feedparser' in sys.modules)\n"
)


def test_a_plain_feed_is_parsed_without_feedparser_an_ill_formed_one_with_it() -> None:
    ill_formed = PLAIN_FEED.replace(b"&amp;", b"&")
    answers = [
        subprocess.run(
            [sys.executable, "-c", PARSE_PROBE, body.decode()],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for body in (PLAIN_FEED, ill_formed)
    ]
    assert answers == ["A & B | False", "A & B | True"]
