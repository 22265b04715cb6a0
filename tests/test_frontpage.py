"""The front page: what it links, what it escapes, and how headless Chromium renders it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import lxml.html
import pytest

from feedhub.core.models import PublishedEntry, PublishedSource
from feedhub.publish.catalog import FeedInfo
from feedhub.publish.frontpage import FeedSummary, SourceRow, render_front_page
from tests.conftest import ConfigWriter, FakeClock, open_hub
from tests.httpserver import FeedServer, Reply
from tests.published_site import HOSTILE_SOURCE, SCRIPT_TITLE, Site, served_site
from tests.test_outputs import CONTENT_TYPES, FEEDS
from tests.test_pipeline import SEED_TITLE
from tests.test_polite import rss
from tests.test_serve import request

CHROMIUM = Path("/usr/bin/chromium")
FORMAT_TYPES = {
    "atom.xml": "application/atom+xml",
    "rss.xml": "application/rss+xml",
    "feed.json": "application/feed+json",
}


@pytest.fixture
def site(feed_server: FeedServer, write_config: ConfigWriter) -> Iterator[Site]:
    with served_site(feed_server, write_config) as served:
        yield served


def chromium_dom(url: str, profile: Path) -> lxml.html.HtmlElement:
    """The DOM headless Chromium built from `url`, scripts enabled, serialized back."""
    if not CHROMIUM.exists():
        if os.environ.get("FEEDHUB_TEST_CHROMIUM") == "1":
            pytest.fail(
                f"FEEDHUB_TEST_CHROMIUM=1 but {CHROMIUM} is missing: apt-get install chromium"
            )
        pytest.skip(f"headless Chromium ({CHROMIUM}) is not installed; .ci/run installs it")
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and result.stdout, result.stderr[-2000:]
    return lxml.html.fromstring(result.stdout)


@pytest.mark.chromium
def test_chromium_renders_every_feed_link_and_feed_text_as_text(site: Site, tmp_path: Path) -> None:
    page_url = site.url("/")
    dom = chromium_dom(page_url, tmp_path / "chromium")
    # A script in a title would have run and renamed the page; none is in the DOM.
    assert dom.findtext(".//title") == "test hub"
    assert dom.xpath("//script") == []
    # Autodiscovery: every feed in every format, absolute, in the head.
    discovered = {
        (link.get("type"), link.get("href"))
        for link in dom.xpath("/html/head/link[@rel='alternate']")
    }
    assert discovered == {
        (FORMAT_TYPES[name], f"http://feeds.test/{slug}/{name}")
        for slug in (*FEEDS, "_health")
        for name in FORMAT_TYPES
    }
    # A visible link to every feed, which the server answers with the feed.
    hrefs = {urljoin(page_url, a.get("href")) for a in dom.xpath("//a[@href]")}
    for slug in FEEDS:
        for name in FORMAT_TYPES:
            url = site.url(f"/{slug}/{name}")
            assert url in hrefs, url
            response = request(site.port, f"/{slug}/{name}")
            assert response.headers["content-type"] == CONTENT_TYPES[name]
    assert site.url("/sources.opml") in hrefs
    assert not [href for href in hrefs if not href.startswith(("http://", "https://"))]
    # Feed-provided text shows as text: the headline, the source name.
    headlines = [a.text_content() for a in dom.xpath("//a[@class='headline']")]
    assert SCRIPT_TITLE in headlines
    assert SEED_TITLE in headlines
    assert dom.xpath("//main//b") == [] and dom.xpath("//main//i") == []
    names = [td.text_content() for td in dom.xpath("//td[@class='name']")]
    assert names == ["OpenVoiceNews U.S.", "Defence Digest", "World Briefing", HOSTILE_SOURCE]
    health = [span.text_content() for span in dom.xpath("//span[contains(@class, 'health ')]")]
    assert health == ["ok"] * 4


def test_feed_text_is_escaped_and_only_web_links_are_followed() -> None:
    moment = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    source = PublishedSource('Wire "<b>', "https://wire.example/feed", None)
    entries = tuple(
        PublishedEntry(
            uid=f"urn:uuid:{n}",
            title=title,
            link=link,
            summary_html=None,
            content_html=None,
            authors=(),
            labels=(),
            enclosures=(),
            published=moment,
            updated=moment,
            source=source,
        )
        for n, (title, link) in enumerate(
            [
                ("<script>alert(1)</script>", "https://wire.example/1"),
                ("<img src=x onerror=alert(2)>", "javascript:alert(3)"),
                ('"><svg onload=alert(4)>', None),
            ]
        )
    )
    feed = FeedInfo("news", 'News "&" <Views>', "https://hub.example/")
    page = render_front_page(
        "<b>hub</b>",
        [FeedSummary(feed, 'News "&" <Views>', 3, moment, entries)],
        [SourceRow('Wire "<b>', "javascript:alert(5)", "failing", 3, None, "<i>HTTP 500</i>")],
        FeedInfo("_health", "<b>hub</b>: source health", "https://hub.example/"),
    ).decode()
    dom = lxml.html.fromstring(page)
    assert dom.xpath("//script | //img | //svg | //main//b | //main//i") == []
    assert [a.text_content() for a in dom.xpath("//a[@class='headline']")] == [
        "<script>alert(1)</script>"
    ]
    spans = [span.text_content() for span in dom.xpath("//span[@class='headline']")]
    assert spans == ["<img src=x onerror=alert(2)>", '"><svg onload=alert(4)>']
    assert "javascript:" not in page
    assert dom.findtext(".//title") == "<b>hub</b>"
    (problem,) = dom.xpath("//td[@class='problem']")
    assert problem.text.strip() == "<i>HTTP 500</i>"
    assert problem.findtext("span[@class='since']") == "never polled successfully"
    titles = {link.get("title") for link in dom.xpath("//link[@rel='alternate']")}
    assert titles == {
        f"{feed} ({label})"
        for feed in ('News "&" <Views>', "<b>hub</b>: source health")
        for label in ("Atom", "RSS", "JSON Feed")
    }


def test_the_site_follows_the_sources_and_the_config_when_no_entry_changed(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    # A warm poll that changes nothing skips the site; these changes must not be skipped.
    ok = feed_server.route("/ok", Reply.feed(rss("Steady")))
    broken = feed_server.route("/broken", Reply(500, b"down"))
    sources = [{"url": ok, "name": "Steady"}, {"url": broken, "name": "Broken"}]
    hub = open_hub(write_config(sources), clock)
    hub.run_once()
    front = hub.settings.hub.output_dir / "index.html"
    assert "HTTP 500" in front.read_text()
    before = front.read_bytes()
    clock.advance(timedelta(hours=1))
    hub.run_once(everything=True)  # a 304 and the same failure: the same page
    assert front.read_bytes() == before
    feed_server.route("/broken", Reply(503, b"busy"))  # still failing, another problem
    clock.advance(timedelta(days=1))
    hub.run_once(everything=True)
    assert "HTTP 503" in front.read_text()
    retitled = open_hub(write_config(sources, hub={"title": "Renamed hub"}), clock)
    assert retitled.run_once().polled == 0
    assert "Renamed hub" in front.read_text()


def test_a_renamed_category_is_republished_without_waiting_for_new_entries(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    sources = [{"url": feed_server.route("/ok", Reply.feed(rss("Steady"))), "name": "Steady"}]
    named = {"news": {"title": "News", "match": ["Steady"]}}
    open_hub(write_config(sources, named), clock).run_once()
    renamed = {"news": {"title": "World news", "match": ["Steady"]}}
    hub = open_hub(write_config(sources, renamed), clock)
    assert hub.run_once().polled == 0
    atom = (hub.settings.hub.output_dir / "news" / "atom.xml").read_text()
    assert "<title>World news</title>" in atom
    assert hub.run_once().published == []  # and once is enough
