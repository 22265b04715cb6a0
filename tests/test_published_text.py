"""What ugly input looks like in every published format: text escaped exactly once,
control characters gone, enclosures and related links with their attributes."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from tests.conftest import ConfigWriter
from tests.feedfiles import Sources, assert_valid_atom, item, rss

ATOM = {"a": "http://www.w3.org/2005/Atom"}


@pytest.fixture
def two(tmp_path: Path, write_config: ConfigWriter) -> Sources:
    return Sources(tmp_path, write_config, 2)


def raw_rss(items: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Raw</title>'
        b"<link>https://news.example/</link>" + items + b"</channel></rss>"
    )


def test_a_title_is_escaped_exactly_once_in_every_output(two: Sources) -> None:
    twice_escaped = b"<title>AT&amp;amp;T &amp; Verizon &lt;b&gt;merge&lt;/b&gt;</title>"
    two.poll(raw_rss(b"<item>" + twice_escaped + b"<guid>t</guid></item>"), rss())
    title = "AT&T & Verizon merge"
    once = f"<title>{title.replace('&', '&amp;')}</title>".encode()
    for name in ("atom.xml", "rss.xml"):
        body = two.output("all", name)
        assert once in body, name
        assert feedparser.parse(body).entries[0].title == title
    assert two.json_feed()["items"][0]["title"] == title


def test_control_characters_never_reach_the_outputs(two: Sources) -> None:
    dirty = b"<item><title>Bell\x07 tab\x0b</title><description>a\x01b\x1fc</description>"
    two.poll(raw_rss(dirty + b"<guid>c</guid><category>x\x02y</category></item>"), rss())
    for name in ("atom.xml", "rss.xml", "feed.json"):
        body = two.output("all", name)
        assert not any(byte < 32 and byte not in b"\t\n\r" for byte in body), name
    assert_valid_atom(two.output("all", "atom.xml"))
    assert [entry.title for entry in two.published()] == ["Bell tab"]


def test_enclosures_are_republished_in_every_format(two: Sources) -> None:
    podcast = item(
        "Episode 1",
        guid="ep1",
        link="https://pod.example/ep1",
        enclosures=['<enclosure url="https://pod.example/ep1.mp3" length="1234"/>'],
    )
    video = item(
        "Clip",
        guid="clip",
        link="https://pod.example/clip",
        enclosures=[
            '<enclosure url="https://pod.example/clip.mp4" type="video/mp4" length="9"/>',
            '<enclosure url="https://pod.example/clip.webm"/>',
        ],
    )
    two.poll(rss(podcast, video), rss())
    atom = etree.fromstring(two.output("all", "atom.xml"))
    links = {
        entry.findtext("a:title", namespaces=ATOM): [
            dict(link.attrib) for link in entry.findall("a:link[@rel='enclosure']", ATOM)
        ]
        for entry in atom.findall("a:entry", ATOM)
    }
    assert links["Episode 1"] == [
        {
            "href": "https://pod.example/ep1.mp3",
            "rel": "enclosure",
            "type": "audio/mpeg",
            "length": "1234",
        }
    ]
    assert {link["href"] for link in links["Clip"]} == {
        "https://pod.example/clip.mp4",
        "https://pod.example/clip.webm",
    }
    rss_items = etree.fromstring(two.output("all", "rss.xml")).findall("channel/item")
    enclosures = {
        i.findtext("title"): [dict(e.attrib) for e in i.findall("enclosure")] for i in rss_items
    }
    assert enclosures["Episode 1"] == [
        {"url": "https://pod.example/ep1.mp3", "length": "1234", "type": "audio/mpeg"}
    ]
    # RSS allows one enclosure per item: the first one.
    assert enclosures["Clip"] == [
        {"url": "https://pod.example/clip.mp4", "length": "9", "type": "video/mp4"}
    ]
    attachments = {
        i["title"]: i["attachments"] for i in json.loads(two.output("all", "feed.json"))["items"]
    }
    assert attachments["Clip"] == [
        {"url": "https://pod.example/clip.mp4", "mime_type": "video/mp4", "size_in_bytes": 9},
        {"url": "https://pod.example/clip.webm", "mime_type": "video/webm"},
    ]
    assert_valid_atom(two.output("all", "atom.xml"))


def test_other_sources_of_an_article_are_related_links_not_alternates(two: Sources) -> None:
    two.poll(rss(item("Story", guid="a", link="https://news.example/story")), None)
    two.poll(None, rss(item("Story", guid="b", link="http://www.news.example/story/")))
    two.poll(rss(item("Story", guid="a", link="https://news.example/story/")), None)
    atom = etree.fromstring(two.output("all", "atom.xml"))
    [entry] = atom.findall("a:entry", ATOM)
    links = [dict(link.attrib) for link in entry.findall("a:link", ATOM)]
    assert links == [
        {"href": "https://news.example/story", "rel": "alternate"},
        {"href": "http://www.news.example/story/", "rel": "related", "title": "Source 1"},
    ]
