"""The site before and after the first run: a page saying nothing is published yet, each
feed's folder page, the health feed (linked from the front page, dated sensibly)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from lxml import etree

from feedhub.serve.app import FileDocuments, make_app, start_background_server
from tests.conftest import ConfigWriter, FakeClock, open_hub, output_files
from tests.feedfiles import assert_valid_atom
from tests.hostile import rss, rss_items
from tests.httpserver import FeedServer, Reply
from tests.test_serve import request

ATOM_NS = "{http://www.w3.org/2005/Atom}"


@contextmanager
def serving(output_dir: Path) -> Iterator[int]:
    server, thread = start_background_server(
        make_app(FileDocuments(output_dir), 60), "127.0.0.1", 0
    )
    try:
        yield server.effective_port
    finally:
        server.close()
        thread.join(timeout=10)


def test_before_the_first_run_folders_say_nothing_is_published_yet(tmp_path: Path) -> None:
    with serving(tmp_path / "public") as port:
        for path in ("/", "/news/"):
            response = request(port, path)
            assert response.status == 404
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["cache-control"] == "no-store"
            assert b"Nothing is published here yet" in response.body
            assert b"feedhub run --once" in response.body
        missing = request(port, "/news/atom.xml")
        assert (missing.status, missing.body) == (404, b"not found\n")


def test_after_publishing_each_feed_folder_has_a_page_linking_its_formats(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/feed.xml", Reply.feed(rss(rss_items(3, "Story"))))
    config = write_config(
        [{"url": url, "name": "Wire", "categories": ["news"]}], {"news": {"title": "News"}}
    )
    hub = open_hub(config, clock)
    hub.run_once()
    with serving(hub.settings.hub.output_dir) as port:
        page = request(port, "/news/")
        assert page.status == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        root = etree.HTML(page.body)
        assert root.findtext(".//h1") == "News"
        hrefs = root.xpath("//nav//a/@href")
        assert hrefs == ["atom.xml", "rss.xml", "feed.json"]
        for href in hrefs:
            assert request(port, f"/news/{href}").status == 200
        alternates = root.xpath("//link[@rel='alternate']/@href")
        assert alternates == [f"http://feeds.test/news/{name}" for name in hrefs]
        assert "Story 2" in page.body.decode()
        assert request(port, "/nope/").status == 404, "a folder that is no feed stays a 404"


def test_the_health_feed_is_linked_and_never_dated_1970(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/feed.xml", Reply.feed(rss(rss_items(1))))
    hub = open_hub(write_config([{"url": url, "name": "Calm"}]), clock)
    hub.run_once()
    files = output_files(hub.settings)
    health = files["_health/atom.xml"]
    assert_valid_atom(health)
    updated = etree.fromstring(health).findtext(f"{ATOM_NS}updated")
    assert updated == "2025-07-04T12:00:00+00:00", "the hub's first run, not the epoch"
    assert b"1970" not in files["_health/rss.xml"]
    front = etree.HTML(files["index.html"])
    alternates = front.xpath("//link[@rel='alternate']/@href")
    assert "http://feeds.test/_health/atom.xml" in alternates
    assert "_health/atom.xml" in front.xpath("//a/@href")
    # Republished later, still empty: the same date (the same bytes).
    clock.advance(timedelta(days=3))
    hub.publish_all()
    assert output_files(hub.settings)["_health/atom.xml"] == health
