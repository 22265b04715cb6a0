"""The whole pipeline, from a TOML config to published files, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
import shutil
import signal
import time
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
import sqlalchemy as sa
from lxml import etree

from feedhub.config.settings import load_config
from feedhub.core.models import SourceHealth
from tests.conftest import (
    ATOM_SCHEMA,
    ROOT,
    SAMPLES,
    ConfigWriter,
    FakeClock,
    open_hub,
    output_files,
    run_feedhub,
    start_feedhub,
)
from tests.databases import empty_database
from tests.httpserver import FeedServer, Reply

SEED_TITLE = "US Seeks to Finalize Major Defence Sales to India Amid Growing Partnership"
CATEGORIES = {
    "defense-security": {"title": "Defense & Security", "match": ["Defense & Security", "Defence"]},
    "economy": {"title": "Economy", "match": ["Economy", "Business"]},
    "world": {"title": "World", "match": ["World"]},
}


def serve_samples(server: FeedServer) -> list[dict[str, object]]:
    return [
        {
            "url": server.route(
                "/ovn.xml", Reply.feed((SAMPLES / "openvoicenews-us.xml").read_bytes())
            ),
            "name": "OpenVoiceNews U.S.",
        },
        {
            "url": server.route(
                "/digest.xml",
                Reply.feed((SAMPLES / "defence-digest.xml").read_bytes(), "application/atom+xml"),
            ),
            "name": "Defence Digest",
        },
        {
            "url": server.route(
                "/briefing.rdf",
                Reply.feed((SAMPLES / "world-briefing.rdf").read_bytes(), "application/rdf+xml"),
            ),
            "name": "World Briefing",
            "categories": ["world"],
        },
    ]


@pytest.fixture
def sample_config(feed_server: FeedServer, write_config: ConfigWriter) -> Path:
    return write_config(serve_samples(feed_server), CATEGORIES)


def atom_entries(path: Path) -> list[feedparser.FeedParserDict]:
    parsed = feedparser.parse(path.read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return list(parsed.entries)


def test_seed_article_reaches_its_category_exactly_once(sample_config: Path) -> None:
    hub = open_hub(sample_config)
    summary = hub.run_once()
    assert summary.polled == 3 and summary.failed == 0
    output = hub.settings.hub.output_dir
    for slug in ("defense-security", "all"):
        titles = [entry.title for entry in atom_entries(output / slug / "atom.xml")]
        assert titles.count(SEED_TITLE) == 1, (slug, titles)
    # Both carriers' own entries were stored, so the article has an alternate at the other.
    rss = feedparser.parse((output / "defense-security" / "rss.xml").read_bytes())
    assert [entry.title for entry in rss.entries].count(SEED_TITLE) == 1
    assert {e.title for e in atom_entries(output / "economy" / "atom.xml")} == {
        "U.S. Employers Add 147,000 Jobs in June as Unemployment Rate Dips to 4.1%",
        "AT&T Settlement Over 2024 Customer Data Breaches Moves Forward",
    }


def test_outputs_are_valid_atom_and_parse_cleanly(sample_config: Path) -> None:
    hub = open_hub(sample_config)
    hub.run_once()
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    files = output_files(hub.settings)
    assert {
        f"{slug}/{name}" for slug in ["all", *CATEGORIES] for name in ("atom.xml", "rss.xml")
    } <= set(files)
    for name, body in files.items():
        if not name.endswith(".xml"):
            continue  # JSON Feed, OPML and the front page: see test_outputs.py
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        if name.endswith("atom.xml"):
            assert schema.validate(etree.fromstring(body)), (name, schema.error_log)
            document = etree.fromstring(body)
            ns = {"a": "http://www.w3.org/2005/Atom"}
            self_link = document.find("a:link[@rel='self']", ns)
            assert self_link is not None and self_link.get("href") == f"http://feeds.test/{name}"
            for entry in document.findall("a:entry", ns):
                assert entry.find("a:source", ns) is not None
        else:
            assert parsed.version == "rss20"
            assert parsed.feed.link == "http://feeds.test/"


def test_ampersand_is_escaped_exactly_once(sample_config: Path) -> None:
    hub = open_hub(sample_config)
    hub.run_once()
    title = "AT&T Settlement Over 2024 Customer Data Breaches Moves Forward"
    for name in ("atom.xml", "rss.xml"):
        body = (hub.settings.hub.output_dir / "economy" / name).read_bytes()
        # Plain-text titles: one level of XML escaping, no HTML escaping on top.
        assert f"<title>{title.replace('&', '&amp;')}</title>".encode() in body
        assert title in [entry.title for entry in feedparser.parse(body).entries]


def test_second_run_keeps_ids_and_bytes(sample_config: Path) -> None:
    clock = FakeClock()
    hub = open_hub(sample_config, clock)
    hub.run_once()
    first = output_files(hub.settings)
    clock.advance(timedelta(hours=1))
    summary = hub.run_once(everything=True)
    assert summary.polled == 3 and summary.new_entries == 0 and summary.updated_entries == 0
    hub.publish_all()  # regenerate from the store: unchanged data must give the same bytes
    assert output_files(hub.settings) == first
    ids = [entry.id for entry in atom_entries(hub.settings.hub.output_dir / "all" / "atom.xml")]
    assert len(ids) == len(set(ids)) == 10


def test_ids_survive_a_rebuilt_store(sample_config: Path) -> None:
    hub = open_hub(sample_config)
    hub.run_once()
    before = [e.id for e in atom_entries(hub.settings.hub.output_dir / "all" / "atom.xml")]
    hub.store.close()
    empty_database(hub.settings.hub.database)
    rebuilt = open_hub(sample_config)
    rebuilt.run_once(everything=True)
    rebuilt.publish_all()
    after = [e.id for e in atom_entries(hub.settings.hub.output_dir / "all" / "atom.xml")]
    assert sorted(before) == sorted(after)


def test_failing_sources_are_recorded_and_others_published(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    sources = serve_samples(feed_server)
    sources.append({"url": feed_server.route("/broken", Reply(500, b"oops")), "name": "Broken"})
    sources.append(
        {
            "url": feed_server.route("/garbage", Reply(200, b"\x00\x01 this is no feed {", {})),
            "name": "Garbage",
        }
    )
    hub = open_hub(write_config(sources, CATEGORIES))
    summary = hub.run_once()
    assert summary.failed == 2
    states = {state.name: state for state in hub.store.source_states()}
    assert states["Broken"].health is SourceHealth.FAILING
    assert states["Broken"].last_status == 500
    assert "HTTP 500" in (states["Broken"].last_error or "")
    assert states["Garbage"].health is SourceHealth.FAILING
    assert "not an RSS, Atom or JSON feed" in (states["Garbage"].last_error or "")
    assert states["OpenVoiceNews U.S."].health is SourceHealth.OK
    titles = [e.title for e in atom_entries(hub.settings.hub.output_dir / "all" / "atom.xml")]
    assert SEED_TITLE in titles and len(titles) == 10


def test_run_once_command_publishes_and_second_run_is_identical(sample_config: Path) -> None:
    first = run_feedhub("--config", sample_config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "polled 3 sources" in first.stdout
    settings = load_config(sample_config)
    before = output_files(settings)
    mtimes = {p: p.stat().st_mtime_ns for p in settings.hub.output_dir.rglob("*.xml")}
    second = run_feedhub("--config", sample_config, "run", "--once", "--all")
    assert second.returncode == 0, second.stderr
    assert output_files(settings) == before
    assert {p: p.stat().st_mtime_ns for p in settings.hub.output_dir.rglob("*.xml")} == mtimes


def test_the_bundled_demo_runs_without_network(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "config", tmp_path / "config", ignore=shutil.ignore_patterns("public", "*.sqlite*")
    )
    result = run_feedhub("--config", tmp_path / "config" / "demo.toml", "run", "--once")
    assert result.returncode == 0, result.stderr
    feed = tmp_path / "config" / "public" / "defense-security" / "atom.xml"
    assert [e.title for e in atom_entries(feed)].count(SEED_TITLE) == 1


def test_the_demo_credits_the_shared_story_to_the_original_with_the_copy_related(
    tmp_path: Path,
) -> None:
    shutil.copytree(
        ROOT / "config", tmp_path / "config", ignore=shutil.ignore_patterns("public", "*.sqlite*")
    )
    result = run_feedhub("--config", tmp_path / "config" / "demo.toml", "run", "--once")
    assert result.returncode == 0, result.stderr
    public = tmp_path / "config" / "public"
    for slug in ("defense-security", "all"):
        [story] = [e for e in atom_entries(public / slug / "atom.xml") if e.title == SEED_TITLE]
        assert story.source.title == "OpenVoiceNews U.S."  # published 14:30Z, the digest 16:05Z
        related = [(link.href, link.title) for link in story.links if link.rel == "related"]
        assert related == [
            (
                "https://defencedigest.example/briefs/2025/07/us-india-defence-sales",
                "Defence Digest",
            )
        ]


def test_daemon_polls_on_schedule_and_stops_on_sigterm(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    config = write_config(
        serve_samples(feed_server)[:1],
        CATEGORIES,
        # The sample says sy:updatePeriod hourly; max_interval clamps that to the test's pace.
        schedule={"interval": "1s", "min_interval": "1s", "max_interval": "1s", "tick": "0.2s"},
    )
    daemon = start_feedhub("--config", config, "run")
    try:
        deadline = time.monotonic() + 30
        while len(feed_server.hits("/ovn.xml")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        hits = feed_server.hits("/ovn.xml")
        assert len(hits) >= 3, daemon.stderr.read() if daemon.poll() is not None else hits
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(hits)]
        assert all(gap >= 0.9 for gap in gaps), gaps  # on schedule, not hammering
        # The second poll is conditional: the publisher's validators were kept.
        assert hits[1].headers.get("if-none-match")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait()
    stderr = daemon.stderr.read() if daemon.stderr else ""
    assert "Traceback" not in stderr
    assert "daemon stopped" in stderr
    assert (config.parent / "public" / "defense-security" / "atom.xml").exists()


def test_a_restarted_daemon_does_not_refetch_what_is_not_due(sample_config: Path) -> None:
    assert run_feedhub("--config", sample_config, "run", "--once").returncode == 0
    again = run_feedhub("--config", sample_config, "run", "--once")
    assert again.returncode == 0
    assert "polled 0 sources" in again.stdout


def test_a_feed_that_is_not_well_formed_keeps_what_parsed(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    body = (SAMPLES / "openvoicenews-us.xml").read_bytes().replace(b"AT&amp;T", b"AT&T", 1)
    sources = [{"url": feed_server.route("/loose.xml", Reply.feed(body)), "name": "Loose"}]
    hub = open_hub(write_config(sources, CATEGORIES))
    summary = hub.run_once()
    assert summary.failed == 0 and summary.new_entries == 5
    (state,) = hub.store.source_states()
    assert state.health is SourceHealth.WARNING
    assert "not well formed" in (state.last_error or "")


def test_an_idle_tick_only_looks_for_due_sources_and_dirty_feeds(sample_config: Path) -> None:
    # The daemon ticks every few seconds: with nothing due it must not read the sources'
    # states or render anything (comparing the site with them cost 23 ms a tick at 1,000).
    hub = open_hub(sample_config, FakeClock())
    hub.run_once()
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]).split()[0])

    sa.event.listen(hub.store.engine, "before_cursor_execute", record)
    idle = hub.run_once()
    sa.event.remove(hub.store.engine, "before_cursor_execute", record)
    assert (idle.polled, idle.published) == (0, [])
    # Due sources, the last prune's time, the dirty feeds: nothing else is read.
    assert statements.count("SELECT") == 3, statements
