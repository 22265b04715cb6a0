"""What a poll publishes besides Atom and RSS, served over real sockets: JSON Feed 1.1,
sources.opml, the front page, /metrics; the `serve` command and `run` serving too."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import pytest
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from feedhub.config.settings import load_config
from feedhub.core.errors import OpmlError
from feedhub.publish.catalog import FEED_FILES
from feedhub.publish.opml import LocalSources, OpmlSource, parse_opml, render_opml
from tests.conftest import (
    ConfigWriter,
    FakeClock,
    open_hub,
    output_files,
    run_feedhub,
    start_feedhub,
)
from tests.httpserver import FeedServer, Reply
from tests.published_site import HOSTILE_SOURCE, SCRIPT_TITLE, Site, served_site, site_sources
from tests.test_pipeline import CATEGORIES
from tests.test_serve import request

FEEDS = ["all", *CATEGORIES]
CONTENT_TYPES = {
    "atom.xml": "application/atom+xml; charset=utf-8",
    "rss.xml": "application/rss+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
}
_EXTENSIONS = {"^_[A-Za-z]": {"type": "object"}}
_AUTHORS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "url": {"type": "string"}},
        "anyOf": [{"required": ["name"]}, {"required": ["url"]}],
    },
}
# JSON Feed 1.1 (https://jsonfeed.org/version/1.1) as a JSON Schema: every key the
# spec defines, with its type; nothing else but "_" extensions.
JSON_FEED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "title", "items"],
    "additionalProperties": False,
    "patternProperties": _EXTENSIONS,
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        **{
            key: {"type": "string"}
            for key in (
                "title",
                "home_page_url",
                "feed_url",
                "description",
                "user_comment",
                "next_url",
                "icon",
                "favicon",
                "language",
            )
        },
        "expired": {"type": "boolean"},
        "hubs": {"type": "array"},
        "authors": _AUTHORS,
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "additionalProperties": False,
                "patternProperties": _EXTENSIONS,
                "properties": {
                    **{
                        key: {"type": "string"}
                        for key in (
                            "id",
                            "url",
                            "external_url",
                            "title",
                            "content_html",
                            "content_text",
                            "summary",
                            "image",
                            "banner_image",
                            "date_published",
                            "date_modified",
                            "language",
                        )
                    },
                    "authors": _AUTHORS,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "attachments": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["url", "mime_type"],
                            "additionalProperties": False,
                            "properties": {
                                "url": {"type": "string"},
                                "mime_type": {"type": "string"},
                                "title": {"type": "string"},
                                "size_in_bytes": {"type": "integer", "minimum": 0},
                                "duration_in_seconds": {"type": "number", "minimum": 0},
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.fixture
def site(feed_server: FeedServer, write_config: ConfigWriter) -> Iterator[Site]:
    with served_site(feed_server, write_config) as served:
        yield served


def metrics_of(port: int) -> dict[str, list[Any]]:
    """Samples by name, from /metrics parsed with prometheus-client's own parser."""
    response = request(port, "/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if s.labels == labels]
    assert len(found) == 1, (name, labels, samples.get(name))
    return float(found[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, path: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if request(port, path).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{path} was not served within 30 s")


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as systemd stops a service; it must exit 0 without a traceback."""
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stderr


# --- every kind of output, served ------------------------------------------


def test_every_output_is_served_with_its_content_type(site: Site) -> None:
    max_age = f"max-age={15 * 60}"  # the shortest source interval in the config
    for slug in FEEDS:
        for name, content_type in CONTENT_TYPES.items():
            response = request(site.port, f"/{slug}/{name}")
            assert response.status == 200, (slug, name)
            assert response.headers["content-type"] == content_type
            assert response.headers["cache-control"] == max_age
            assert response.body == (site.output_dir / slug / name).read_bytes()
    opml = request(site.port, "/sources.opml")
    assert opml.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert opml.headers["cache-control"] == max_age
    for path in ("/", "/index.html"):
        page = request(site.port, path)
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == max_age
        assert SCRIPT_TITLE.encode() not in page.body
    assert request(site.port, "/world/feed.xml").status == 404


# --- JSON Feed ---------------------------------------------------------------


def test_json_feeds_are_json_feed_1_1_with_the_atom_ids(site: Site) -> None:
    for slug in FEEDS:
        body = request(site.port, f"/{slug}/feed.json").body
        document = json.loads(body)
        jsonschema.validate(document, JSON_FEED_SCHEMA)
        assert document["feed_url"] == f"http://feeds.test/{slug}/feed.json"
        assert document["home_page_url"] == "http://feeds.test/"
        atom = feedparser.parse((site.output_dir / slug / "atom.xml").read_bytes())
        assert [item["id"] for item in document["items"]] == [e.id for e in atom.entries]
        assert [item["title"] for item in document["items"]] == [e.title for e in atom.entries]
        for item in document["items"]:
            published = datetime.fromisoformat(item["date_published"])
            modified = datetime.fromisoformat(item["date_modified"])
            assert published.utcoffset() == modified.utcoffset() == timedelta(0)
            assert item["url"].startswith("https://")
            assert item["_source"]["title"]
    assert len(json.loads((site.output_dir / "all" / "feed.json").read_bytes())["items"]) == 11


def test_json_feed_items_carry_enclosures_authors_tags_and_source(site: Site) -> None:
    items = json.loads(request(site.port, "/world/feed.json").body)["items"]
    (hostile,) = [item for item in items if item["title"] == SCRIPT_TITLE]
    assert hostile["attachments"] == [
        {"url": "https://wire.example/1.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 12345}
    ]
    assert hostile["authors"] == [{"name": "Wire Desk"}]
    assert hostile["tags"] == ["World"]
    assert hostile["content_html"] == "<p>The full text.</p>"
    assert hostile["summary"] == "A short summary."
    assert hostile["date_published"] == "2025-07-03T11:00:00Z"
    source = hostile["_source"]
    assert source["title"] == HOSTILE_SOURCE
    assert source["feed_url"].endswith("/hostile.xml")
    assert "home_page_url" not in source  # javascript: is no home page
    everything = json.loads(request(site.port, "/all/feed.json").body)["items"]
    sites = {item["_source"]["title"]: item["_source"].get("home_page_url") for item in everything}
    assert sites["OpenVoiceNews U.S."] == "https://openvoicenews.example/us/"
    assert sites["Defence Digest"] == "https://defencedigest.example/"


def test_json_feed_keeps_local_source_paths_private(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    feed = tmp_path / "local.xml"
    feed.write_bytes(
        (Path(__file__).parent.parent / "config/samples/world-briefing.rdf").read_bytes()
    )
    hub = open_hub(
        write_config([{"url": str(feed), "name": "Local", "categories": ["world"]}], CATEGORIES)
    )
    hub.run_once()
    body = (hub.settings.hub.output_dir / "world" / "feed.json").read_bytes()
    assert str(tmp_path).encode() not in body
    assert json.loads(body)["items"][0]["_source"]["title"] == "Local"


def test_every_published_file_keeps_its_bytes_when_nothing_changed(site: Site) -> None:
    before = output_files(site.hub.settings)
    mtimes = {p: p.stat().st_mtime_ns for p in site.output_dir.rglob("*") if p.is_file()}
    site.hub.publish_all()
    assert output_files(site.hub.settings) == before
    assert {p: p.stat().st_mtime_ns for p in site.output_dir.rglob("*") if p.is_file()} == mtimes


def test_a_missing_json_feed_is_published_again(site: Site) -> None:
    (site.output_dir / "economy" / "feed.json").unlink()
    (site.output_dir / "sources.opml").unlink()
    assert site.hub.run_once().polled == 0
    for name in FEED_FILES:
        assert (site.output_dir / "economy" / name).exists()
    assert (site.output_dir / "sources.opml").exists()


# --- OPML --------------------------------------------------------------------


def test_sources_opml_lists_every_source_grouped_by_category(site: Site) -> None:
    document = etree.fromstring(request(site.port, "/sources.opml").body)
    assert document.tag == "opml" and document.get("version") == "2.0"
    assert document.findtext("head/title") == "test hub: sources"
    groups = {group.get("text"): group for group in document.findall("body/outline")}
    world = groups["World"]
    assert [o.get("text") for o in world.findall("outline")] == ["World Briefing", HOSTILE_SOURCE]
    for outline in world.findall("outline"):
        assert outline.get("type") == "rss"
        assert outline.get("xmlUrl").startswith("http://127.0.0.1:")
        assert outline.get("category") == "world"
    briefing = world.find("outline[@text='World Briefing']")
    assert briefing.get("htmlUrl") == "https://worldbriefing.example/"
    # Its site link is javascript:, so it has none.
    assert world.find(f"outline[@title='{HOSTILE_SOURCE}']").get("htmlUrl") is None
    # Sources routed entry by entry have no category of their own: top level.
    loose = {o.get("text"): o for o in document.findall("body/outline[@xmlUrl]")}
    assert set(loose) == {"OpenVoiceNews U.S.", "Defence Digest"}
    assert loose["OpenVoiceNews U.S."].get("htmlUrl") == "https://openvoicenews.example/us/"


def test_opml_parses_back_into_the_configured_sources(site: Site) -> None:
    parsed = parse_opml((site.output_dir / "sources.opml").read_bytes())
    settings = site.hub.settings
    assert {(s.url, s.title) for s in parsed} == {(s.url, s.name) for s in settings.sources}
    for source in settings.sources:
        listed = [p for p in parsed if p.url == source.url]
        assert tuple(p.category_slug for p in listed if p.category_slug) == source.categories
    (hostile,) = [p for p in parsed if p.title == HOSTILE_SOURCE]
    assert hostile.category == "World" and hostile.category_slug == "world"


def test_opml_of_local_sources_only_when_asked(tmp_path: Path, write_config: ConfigWriter) -> None:
    settings = load_config(
        write_config(
            [
                {"url": str(tmp_path / "a.xml"), "name": "Local", "categories": ["world"]},
                {"url": "https://example.org/feed", "name": "Remote"},
            ],
            CATEGORIES,
        )
    )
    public = parse_opml(render_opml(settings, {}))
    assert [s.title for s in public] == ["Remote"]
    everything = parse_opml(render_opml(settings, {}, local=LocalSources.AS_FILES))
    assert [(s.title, s.url, s.category_slug) for s in everything] == [
        ("Local", (tmp_path / "a.xml").as_uri(), "world"),
        ("Remote", "https://example.org/feed", None),
    ]
    # The published sources.opml: what republishes a local file is the hub's feed of its group.
    home = "http://feeds.test/"
    published = parse_opml(render_opml(settings, {}, local=LocalSources.THROUGH_HUB))
    assert [(s.title, s.url, s.html_url, s.category_slug) for s in published] == [
        ("Local (through test hub: World)", "http://feeds.test/world/atom.xml", home, "world"),
        ("Remote", "https://example.org/feed", None, None),
    ]
    assert str(tmp_path) not in render_opml(settings, {}, local=LocalSources.THROUGH_HUB).decode()


def test_parse_opml_reads_other_readers_exports() -> None:
    exported = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Tech">
      <outline text="Sub folder">
        <outline type="rss" text="Nested"
                 xmlurl="https://nested.example/rss" htmlurl="https://nested.example/"/>
      </outline>
      <outline type="rss" title="Titled" text="Texted"
               xmlUrl=" https://titled.example/atom " category="/Boston/Weather"/>
    </outline>
    <outline type="rss" xmlUrl="https://untitled.example/feed"/>
    <outline text="Empty folder"/>
  </body>
</opml>"""
    assert parse_opml(exported) == [
        OpmlSource("https://nested.example/rss", "Nested", "https://nested.example/", "Sub folder"),
        OpmlSource("https://titled.example/atom", "Titled", None, "Tech"),
        OpmlSource("https://untitled.example/feed", "", None, None),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not XML",
        b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
        b'<?xml version="1.0"?><opml version="2.0"><head/></opml>',
    ],
)
def test_parse_opml_refuses_what_is_not_opml(data: bytes) -> None:
    with pytest.raises(OpmlError):
        parse_opml(data)


_LAUGHS = '<!ENTITY a0 "haha">' + "".join(
    f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10)
)


@pytest.mark.parametrize(
    "doctype",
    [
        f"<!DOCTYPE opml [{_LAUGHS}]>",  # a billion laughs: 4 GB from 1 kB
        '<!DOCTYPE opml [<!ENTITY a9 SYSTEM "file:///etc/passwd">]>',
    ],
)
def test_parse_opml_refuses_entity_tricks(doctype: str) -> None:
    data = f"""<?xml version="1.0"?>{doctype}
<opml version="2.0"><body><outline text="x" xmlUrl="https://example.org/&a9;"/></body></opml>"""
    with pytest.raises(OpmlError):
        parse_opml(data.encode())


# --- metrics -----------------------------------------------------------------


def test_metrics_reflect_the_polls(feed_server: FeedServer, write_config: ConfigWriter) -> None:
    clock = FakeClock()
    with served_site(feed_server, write_config, clock) as site:
        first = metrics_of(site.port)
        assert value(first, "feedhub_fetches_total", outcome="ok", status="200") == 4
        assert value(first, "feedhub_fetch_duration_seconds_count") == 4
        assert value(first, "feedhub_entries_total", change="new") == 12
        assert value(first, "feedhub_entries_total", change="updated") == 0
        assert value(first, "feedhub_fetch_not_modified_ratio") == 0
        assert value(first, "feedhub_sources", health="ok") == 4
        assert value(first, "feedhub_sources", health="failing") == 0
        assert value(first, "feedhub_store_up") == 1
        assert value(first, "feedhub_seconds_since_last_success") == 0
        assert value(first, "feedhub_last_success_timestamp_seconds") == clock().timestamp()

        feed_server.route("/digest.xml", Reply(503, b"down for maintenance"))
        clock.advance(timedelta(hours=2))
        site.hub.run_once(everything=True)
        second = metrics_of(site.port)
        # Three sources answered 304 to their validators, one failed.
        assert value(second, "feedhub_fetches_total", outcome="not_modified", status="304") == 3
        assert value(second, "feedhub_fetches_total", outcome="error_http", status="503") == 1
        assert value(second, "feedhub_fetch_not_modified_ratio") == 3 / 7
        assert value(second, "feedhub_fetch_duration_seconds_count") == 8
        assert value(second, "feedhub_sources", health="failing") == 1
        assert value(second, "feedhub_sources_by_last_status", status="304") == 3
        assert value(second, "feedhub_sources_by_last_status", status="503") == 1
        assert value(second, "feedhub_seconds_since_last_success") == 0
        clock.advance(timedelta(minutes=5))
        assert value(metrics_of(site.port), "feedhub_seconds_since_last_success") == 300


def test_front_page_follows_a_source_that_starts_failing(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    clock = FakeClock()
    with served_site(feed_server, write_config, clock) as site:
        assert b'class="health health-failing"' not in request(site.port, "/").body
        feed_server.route("/briefing.rdf", Reply(500, b"oops"))
        clock.advance(timedelta(hours=2))
        summary = site.hub.run_once(everything=True)
        assert summary.published == []  # no entry changed, so no feed was republished
        page = request(site.port, "/").body
        assert b'<span class="health health-failing">failing</span>' in page


# --- the serve and run commands ----------------------------------------------


def test_serve_command_serves_the_site_and_metrics_from_the_store(site: Site) -> None:
    port = free_port()
    server = start_feedhub("--config", site.config, "serve", "--port", port)
    try:
        wait_for(port, "/", server)
        assert (
            request(port, "/all/feed.json").body == (site.output_dir / "all/feed.json").read_bytes()
        )
        assert request(port, "/").headers["cache-control"] == "max-age=900"
        metrics = metrics_of(port)
        # This process polled nothing; what the store knows is there all the same.
        assert value(metrics, "feedhub_sources", health="ok") == 4
        assert "feedhub_fetches_total" not in metrics
        assert value(metrics, "process_resident_memory_bytes") > 0
    finally:
        stderr = stop(server)
    assert f"serving on http://127.0.0.1:{port}" in stderr


def test_serve_command_on_a_busy_port_is_one_line(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_feedhub("--config", site.config, "serve", "--port", port)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"feedhub: cannot listen on 127.0.0.1:{port} ("), line


def test_run_serves_the_feeds_and_its_poll_metrics_when_enabled(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    port = free_port()
    config = write_config(
        site_sources(feed_server),
        CATEGORIES,
        serve={"enabled": True, "host": "127.0.0.1", "port": port},
        schedule={"interval": "1h", "tick": "0.2s"},
    )
    daemon = start_feedhub("--config", config, "run")
    try:
        wait_for(port, "/", daemon)  # written last: the first poll has published
        assert request(port, "/world/feed.json").status == 200
        metrics = metrics_of(port)
        assert value(metrics, "feedhub_sources", health="ok") == 4
        assert value(metrics, "feedhub_fetches_total", outcome="ok", status="200") == 4
        assert value(metrics, "feedhub_entries_total", change="new") == 12
        page = request(port, "/")
        assert page.status == 200 and b"World Briefing" in page.body
        assert page.headers["cache-control"] == "max-age=900"
    finally:
        stderr = stop(daemon)
    assert "daemon stopped" in stderr
    with pytest.raises(OSError):
        request(port, "/")
