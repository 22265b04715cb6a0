"""JSON Feed 1.0 and 1.1 sources: read into the same typed values as RSS and Atom, then
through the same normalizing, deduplication, routing and publishing (on 127.0.0.1)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedhub.core.errors import ParseError
from feedhub.core.models import Enclosure, SourceHealth
from feedhub.parse.docguard import DocumentLimits
from feedhub.parse.document import parse_document
from tests.cli_runner import invoke
from tests.conftest import ConfigWriter, FakeClock, open_hub, output_files
from tests.feedfiles import assert_valid_atom
from tests.hostile import rss
from tests.httpserver import FeedServer, Reply

FEED_1_1 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JSON Example",
    "home_page_url": "https://json.example.org/",
    "authors": [{"name": "Feed Author"}],
    "_custom": {"anything": ["ignored"]},
    "items": [
        {
            "id": "https://json.example.org/1",
            "url": "https://json.example.org/posts/1?utm_source=feed",
            "title": "First post",
            "content_html": "<p>Hello <b>world</b><script>alert(1)</script></p>",
            "summary": "A first post",
            "date_published": "2025-07-01T10:00:00+02:00",
            "date_modified": "2025-07-02T08:00:00Z",
            "authors": [{"name": "Ann"}, {"url": "https://bob.example"}],
            "tags": ["World", 3],
            "attachments": [
                {"url": "/media/ep1.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 1234},
                {"url": "javascript:alert(1)", "mime_type": "audio/mpeg"},
            ],
            "_ext": {"x": 1},
        },
        {"id": 42, "content_text": "Only text, no title", "url": "https://json.example.org/2"},
        "not an item",
    ],
}
FEED_1_0 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "Old JSON",
    "author": {"name": "Solo"},
    "items": [{"id": "a", "title": "Old item", "content_text": "Plain <b>text</b>"}],
}
LIMITS = DocumentLimits()


def parse(document: object, content_type: str = "application/feed+json") -> object:
    body = json.dumps(document).encode()
    return parse_document(
        body, "https://json.example.org/feed.json", {"content-type": content_type}
    )


def test_json_feed_1_1_items_authors_attachments_dates() -> None:
    document = parse(FEED_1_1)
    assert (document.title, document.link) == ("JSON Example", "https://json.example.org/")
    first, second = document.entries
    assert first.guid == "https://json.example.org/1"
    assert first.title == "First post" and not first.title_is_html
    assert first.content_is_html and first.content and "<b>world</b>" in first.content
    assert first.summary == "A first post"
    assert first.authors == ("Ann", "https://bob.example")
    assert first.categories == ("World",)
    assert first.published == datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    assert first.updated == datetime(2025, 7, 2, 8, 0, tzinfo=UTC)
    assert first.enclosures[0] == Enclosure("/media/ep1.mp3", 1234, "audio/mpeg")
    assert (second.guid, second.title, second.content) == ("42", None, "Only text, no title")
    assert not second.content_is_html
    assert second.authors == ("Feed Author",), "an item without authors has the feed's"


def test_json_feed_1_0_is_read_too_whatever_its_content_type() -> None:
    (entry,) = parse(FEED_1_0, content_type="text/plain").entries
    assert (entry.title, entry.authors, entry.content) == (
        "Old item",
        ("Solo",),
        "Plain <b>text</b>",
    )
    assert not entry.content_is_html


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"version": "x", "items": {}}', "JSON, but not a JSON Feed"),
        (b'{"items": [', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"items": [' + b"[" * 100_000, "nested too deeply"),
    ],
    ids=["no items list", "cut", "deep array", "deep items"],
)
def test_what_is_not_a_json_feed_is_one_line(body: bytes, problem: str) -> None:
    with pytest.raises(ParseError, match=problem) as raised:
        parse_document(body, "https://x.example/f.json", {"content-type": "application/json"})
    assert "\n" not in str(raised.value)


def test_json_feed_limits_are_those_of_any_document() -> None:
    many = {"items": [{"id": str(n), "title": "x" * 5000} for n in range(30)]}
    body = json.dumps(many).encode()
    limits = DocumentLimits(max_entries=10, max_field_bytes=1024)
    document = parse_document(body, "https://x.example/f.json", {}, limits)
    assert len(document.entries) == 10
    assert all(len(entry.title or "") == 1024 for entry in document.entries)
    assert document.warning and "10 of 30 entries" in document.warning


def test_json_feeds_go_through_the_same_pipeline(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    json_url = feed_server.route(
        "/feed.json", Reply.feed(json.dumps(FEED_1_1).encode(), "application/feed+json")
    )
    # The same article from an RSS source: one entry, the other copy a related link.
    copy = rss(
        "<item><guid>rss-2</guid><title>Only text, no title</title>"
        "<link>https://json.example.org/2</link><description>Only text, no title</description>"
        "</item>"
    )
    rss_url = feed_server.route("/copy.xml", Reply.feed(copy))
    config = write_config(
        [{"url": json_url, "name": "JSON"}, {"url": rss_url, "name": "RSS copy"}],
        {"world": {"title": "World", "match": ["World"]}},
    )
    hub = open_hub(config, clock)
    summary = hub.run_once()
    assert summary.failed == 0
    assert {s.name: s.health for s in hub.store.source_states()} == {
        "JSON": SourceHealth.OK,
        "RSS copy": SourceHealth.OK,
    }
    files = output_files(hub.settings)
    atom = files["all/atom.xml"].decode()
    assert atom.count("<title>Only text, no title</title>") == 1, "one article, two sources"
    assert "<title>First post</title>" in atom
    assert "<script>" not in atom and "utm_source" not in atom
    assert "https://json.example.org/media/ep1.mp3" not in atom  # relative to the feed URL
    assert f"{feed_server.url('/media/ep1.mp3')}" in atom
    assert "javascript:" not in atom
    world = files["world/atom.xml"].decode()
    assert "First post" in world and "Only text" not in world
    assert_valid_atom(files["all/atom.xml"])


def test_sources_add_accepts_a_json_feed_and_a_page_linking_one(
    feed_server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text("[fetch]\nallow_private_networks = true\ntimeout = 5\n")
    json_url = feed_server.route(
        "/feed.json", Reply.feed(json.dumps(FEED_1_0).encode(), "application/json")
    )
    page = (
        '<!DOCTYPE html><html><head><link rel="alternate" type="application/feed+json" '
        'href="/other.json"></head><body></body></html>'
    )
    page_url = feed_server.route("/", Reply(200, page.encode(), {"Content-Type": "text/html"}))
    feed_server.route(
        "/other.json", Reply.feed(json.dumps(FEED_1_1).encode(), "application/feed+json")
    )
    for url in (json_url, page_url):
        result = invoke(capsys, "--config", config, "sources", "add", url)
        assert result.returncode == 0, result.stderr
    added = tomllib.loads(config.read_text())["sources"]
    assert [(s["url"], s["name"]) for s in added] == [
        (json_url, "Old JSON"),
        (feed_server.url("/other.json"), "JSON Example"),
    ]


def test_discovery_finds_a_json_feed_at_the_usual_path(
    feed_server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text("[fetch]\nallow_private_networks = true\ntimeout = 5\n")
    feed_server.route("/feed.json", Reply.feed(json.dumps(FEED_1_1).encode(), "application/json"))
    page = b"<!DOCTYPE html><html><head><title>No links</title></head><body></body></html>"
    page_url = feed_server.route("/", Reply(200, page, {"Content-Type": "text/html"}))
    result = invoke(capsys, "--config", config, "sources", "add", page_url)
    assert result.returncode == 0, result.stderr
    added = tomllib.loads(config.read_text())["sources"]
    assert [(s["url"], s["name"]) for s in added] == [
        (feed_server.url("/feed.json"), "JSON Example")
    ]


def test_an_rss_feed_served_as_json_is_still_read_as_rss() -> None:
    document = parse_document(
        rss("<item><title>Hi</title></item>"),
        "https://x.example/f",
        {"content-type": "application/json"},
    )
    assert [entry.title for entry in document.entries] == ["Hi"]
