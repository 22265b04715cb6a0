"""`sources add` checks that a URL is a feed, and finds the feeds of web pages (on 127.0.0.1)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from feedhub.app.discover import COMMON_PATHS, declared_feeds
from tests.cli_runner import CliResult, invoke
from tests.conftest import SAMPLES
from tests.httpserver import FeedServer, Reply

RSS = (SAMPLES / "openvoicenews-us.xml").read_bytes()
ATOM = (SAMPLES / "defence-digest.xml").read_bytes()
RSS_TITLE = "OpenVoiceNews U.S."
ATOM_TITLE = "Defence Digest"

CONFIG = """\
# a small config
[fetch]
allow_private_networks = true   # the test server is on 127.0.0.1
timeout = 5

[categories.world]
title = "World"
"""


def html(head: str, body: str = "<p>Hello</p>") -> Reply:
    page = (
        f"<!DOCTYPE html><html><head><title>A site</title>{head}</head><body>{body}</body></html>"
    )
    return Reply(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feedhub.toml"
    path.write_text(CONFIG)
    return path


def add(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> CliResult:
    return invoke(capsys, "--config", config, "sources", "add", *args)


def sources(config: Path) -> list[dict[str, object]]:
    return list(tomllib.loads(config.read_text()).get("sources", []))


def test_a_feed_url_is_added_under_the_feeds_title(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    url = feed_server.route("/news.xml", Reply.feed(RSS))
    result = add(capsys, config, url, "--category", "world")
    assert result.returncode == 0, result.stderr
    assert sources(config) == [{"url": url, "name": RSS_TITLE, "categories": ["world"]}]
    assert len(feed_server.hits("/news.xml")) == 1, "fetched once"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"just some text", {"Content-Type": "text/plain"}),
        Reply(200, b"<?xml version='1.0'?><config><a/></config>", {"Content-Type": "text/xml"}),
        Reply(200, b"\x89PNG\r\n\x1a\n\x00\x00", {"Content-Type": "image/png"}),
    ],
    ids=["text", "other xml", "image"],
)
def test_what_is_not_a_feed_is_refused(
    feed_server: FeedServer, config: Path, capsys, reply: Reply
) -> None:
    url = feed_server.route("/thing", reply)
    result = add(capsys, config, url)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"feedhub: {url}: not an RSS, Atom or JSON feed")
    assert line.endswith("give the URL of an RSS, Atom or JSON Feed, or use --no-check")
    assert config.read_text() == CONFIG
    assert feed_server.hits("/feed") == [], "only web pages are searched for feeds"


@pytest.mark.parametrize(("status", "code"), [(404, 2), (410, 2), (503, 1), (429, 1)])
def test_an_http_error_is_one_line_bad_input_for_4xx_and_a_failure_otherwise(
    feed_server: FeedServer, config: Path, capsys, status: int, code: int
) -> None:
    """A 4xx says the URL is wrong (exit 2, as a URL that is no feed); a 5xx, or too many
    requests, may pass if tried later (exit 1): the table of `feedhub --help`."""
    url = feed_server.route("/feed.xml", Reply(status, b"no"))
    result = add(capsys, config, url)
    assert result.returncode == code
    (line,) = result.stderr.splitlines()
    assert line.startswith("feedhub: ")
    assert f"HTTP {status}" in line and "--no-check" in line
    assert config.read_text() == CONFIG


def test_loopback_is_refused_unless_private_networks_are_allowed(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    config.write_text(
        CONFIG.replace("allow_private_networks = true", "allow_private_networks = false")
    )
    url = feed_server.route("/news.xml", Reply.feed(RSS))
    result = add(capsys, config, url)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "non-public address 127.0.0.1" in line
    assert line.endswith("if it is yours, add it with --allow-private-networks")
    assert feed_server.hits("/news.xml") == []
    assert sources(config) == []


def test_a_lan_source_is_added_in_one_step_and_polled(
    feed_server: FeedServer, config: Path, capsys, tmp_path: Path
) -> None:
    """--allow-private-networks: the check may reach the host, and so may every poll (for
    this source only: [fetch] still refuses private addresses)."""
    config.write_text(
        CONFIG.replace("allow_private_networks = true", "allow_private_networks = false")
        + f'[hub]\noutput_dir = "public"\ndatabase = "sqlite:///{tmp_path / "s.sqlite"}"\n'
    )
    url = feed_server.route("/news.xml", Reply.feed(RSS))
    result = add(capsys, config, url, "--allow-private-networks")
    assert result.returncode == 0, result.stderr
    assert sources(config) == [{"url": url, "name": RSS_TITLE, "allow_private_networks": True}]
    polled = invoke(capsys, "--config", config, "run", "--once")
    assert polled.returncode == 0, polled.stderr
    assert polled.stdout.startswith("polled 1 source (0 failing): 5 new")
    assert len(feed_server.hits("/news.xml")) == 2


def test_a_page_declaring_one_feed_adds_it_with_its_href_made_absolute(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    feed_server.route("/blog/feed/atom.xml", Reply.feed(ATOM, "application/atom+xml"))
    page = feed_server.route(
        "/blog/post.html",
        html(
            '<link rel="stylesheet" href="style.css">'
            '<link rel="Alternate" type="application/atom+xml" title="Posts" href="feed/atom.xml">'
        ),
    )
    result = add(capsys, config, page)
    assert result.returncode == 0, result.stderr
    feed = feed_server.url("/blog/feed/atom.xml")
    assert f"found the feed {feed} on the page {page}" in result.stdout
    assert sources(config) == [{"url": feed, "name": ATOM_TITLE}]


def test_several_declared_feeds_are_listed_and_one_is_picked(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    feed_server.route("/rss.xml", Reply.feed(RSS))
    feed_server.route("/atom.xml", Reply.feed(ATOM, "application/atom+xml"))
    page = feed_server.route(
        "/",
        html(
            '<link rel="alternate" type="application/rss+xml" title="All posts" href="/rss.xml">'
            '<link rel="alternate" type="application/atom+xml; charset=utf-8" href="atom.xml">'
            '<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">'
        ),
    )
    listed = add(capsys, config, page)
    assert listed.returncode == 2
    assert listed.stdout.splitlines() == [
        f"{page} offers 2 feeds:",
        f"  1. {feed_server.url('/rss.xml')}  (RSS) All posts",
        f"  2. {feed_server.url('/atom.xml')}  (Atom)",
    ]
    assert listed.stderr.splitlines() == [f"feedhub: {page} offers 2 feeds; add one with --pick N"]
    assert feed_server.hits("/rss.xml") == [] and feed_server.hits("/atom.xml") == []

    out_of_range = add(capsys, config, page, "--pick", "3")
    assert out_of_range.returncode == 2
    assert out_of_range.stderr.splitlines() == [
        f"feedhub: {page} offers 2 feeds; --pick takes 1 to 2"
    ]

    picked = add(capsys, config, page, "--pick", "2")
    assert picked.returncode == 0, picked.stderr
    assert sources(config) == [{"url": feed_server.url("/atom.xml"), "name": ATOM_TITLE}]


def test_a_picked_link_that_is_not_a_feed_is_refused(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    feed_server.route(
        "/broken.xml", Reply(200, b"<html>oops</html>", {"Content-Type": "text/html"})
    )
    page = feed_server.route(
        "/", html('<link rel="alternate" type="application/rss+xml" href="/broken.xml">')
    )
    result = add(capsys, config, page)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"feedhub: {feed_server.url('/broken.xml')}: this is a web page (HTML), not a feed"
    )
    assert sources(config) == []


def test_without_declared_feeds_the_common_paths_are_tried(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    feed_server.route("/feed", Reply(301, b"", {"Location": "/feed.xml"}))
    feed_server.route("/feed.xml", Reply.feed(RSS))
    feed_server.route("/rss", Reply(200, b"<html></html>", {"Content-Type": "text/html"}))
    page = feed_server.route("/about/", html(""))
    result = add(capsys, config, page)
    assert result.returncode == 0, result.stderr
    for path in COMMON_PATHS:
        assert len(feed_server.hits(path)) == 1, path
    assert sources(config) == [{"url": feed_server.url("/feed"), "name": RSS_TITLE}]


def test_several_feeds_at_common_paths_are_listed(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    feed_server.route("/rss.xml", Reply.feed(RSS))
    feed_server.route("/atom.xml", Reply.feed(ATOM, "application/atom+xml"))
    page = feed_server.route("/", html(""))
    listed = add(capsys, config, page)
    assert listed.returncode == 2
    assert f"  1. {feed_server.url('/rss.xml')}  {RSS_TITLE}" in listed.stdout.splitlines()
    assert f"  2. {feed_server.url('/atom.xml')}  {ATOM_TITLE}" in listed.stdout.splitlines()
    picked = add(capsys, config, page, "--pick", "1", "--name", "Mine")
    assert picked.returncode == 0, picked.stderr
    assert sources(config) == [{"url": feed_server.url("/rss.xml"), "name": "Mine"}]


def test_a_page_with_no_feed_anywhere_is_refused(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    page = feed_server.route("/", html(""))
    result = add(capsys, config, page)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"feedhub: {page} is a web page that declares no feed, and there is none at /feed"
    )
    assert sources(config) == []


def test_a_discovered_feed_already_configured_is_refused(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    feed = feed_server.route("/rss.xml", Reply.feed(RSS))
    page = feed_server.route(
        "/", html('<link rel="alternate" type="application/rss+xml" href="/rss.xml">')
    )
    assert add(capsys, config, feed).returncode == 0
    before = config.read_text()
    again = add(capsys, config, page)
    assert again.returncode == 2
    assert again.stderr.splitlines() == [
        f"feedhub: {feed} is already a source ('{RSS_TITLE}'); "
        f'remove it first with `feedhub sources remove "{RSS_TITLE}"`'
    ]
    assert config.read_text() == before


def test_refusals_come_before_any_fetch(feed_server: FeedServer, config: Path, capsys) -> None:
    url = feed_server.route("/news.xml", Reply.feed(RSS))
    result = add(capsys, config, url, "--category", "sport")
    assert result.returncode == 2
    assert "unknown category 'sport'" in result.stderr
    assert feed_server.hits("/news.xml") == []


def test_two_feeds_with_one_title_get_distinct_names(
    feed_server: FeedServer, config: Path, capsys
) -> None:
    first = feed_server.route("/a.xml", Reply.feed(RSS))
    second = feed_server.route("/b.xml", Reply.feed(RSS))
    assert add(capsys, config, first).returncode == 0
    assert add(capsys, config, second).returncode == 0
    assert [source["name"] for source in sources(config)] == [RSS_TITLE, f"{RSS_TITLE} (2)"]


def test_declared_feeds_follow_base_and_ignore_what_is_not_a_feed_link() -> None:
    page = b"""<html><head>
    <base href="https://cdn.example.org/site/">
    <link rel="alternate" type="application/rss+xml" href="rss.xml" title="  Main
       feed ">
    <link rel="alternate" type="application/feed+json" href="feed.json">
    <link rel="alternate" type="application/rss+xml" href="rss.xml">
    <link rel="alternate" type="application/atom+xml" href="file:///etc/passwd">
    <link rel="alternate" type="application/atom+xml" href="">
    <link rel="feed" type="application/atom+xml" href="other.xml">
    <link rel="alternate" type="text/html" href="/en/">
    </head><body><link rel="alternate" type="application/atom+xml" href="/body.xml"></body></html>
    """
    found = declared_feeds(page, "https://example.org/page")
    assert [(feed.url, feed.kind, feed.title) for feed in found] == [
        ("https://cdn.example.org/site/rss.xml", "RSS", "Main feed"),
        ("https://cdn.example.org/site/feed.json", "JSON Feed", None),
        ("https://cdn.example.org/body.xml", "Atom", None),
    ]


@pytest.mark.parametrize("page", [b"", b"   ", b"\x00\x01binary", b"<html><head></head></html>"])
def test_declared_feeds_of_a_page_without_any(page: bytes) -> None:
    assert declared_feeds(page, "https://example.org/") == []


def test_pick_with_no_check_is_refused(config: Path, capsys) -> None:
    result = add(capsys, config, "https://example.org/", "--no-check", "--pick", "1")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "feedhub: --pick chooses among the feeds a page offers; drop --no-check"
    ]
