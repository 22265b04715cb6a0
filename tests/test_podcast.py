"""A republished podcast keeps what a podcast app needs: the enclosure, each episode's
duration and artwork (its own, else the podcast's cover), and the cover on the channel."""

from __future__ import annotations

import json

import feedparser
from lxml import etree

from feedhub.parse.document import duration_seconds, parse_document
from tests.conftest import ConfigWriter, FakeClock, open_hub, output_files
from tests.feedfiles import assert_valid_atom
from tests.httpserver import FeedServer, Reply

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
COVER = "https://cdn.podcast.example/cover.jpg?size=1400"
OWN = "https://cdn.podcast.example/ep2.webp"


def podcast(second_image: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="{ITUNES}"><channel>
<title>The Show</title><link>https://podcast.example/</link>
<image><url>{COVER}</url><title>The Show</title><link>https://podcast.example/</link></image>
<itunes:image href="{COVER}"/>
<item><title>Episode 1</title><guid>ep1</guid><link>https://podcast.example/1</link>
<enclosure url="https://cdn.podcast.example/ep1.mp3" type="audio/mpeg" length="1000"/>
<itunes:duration>1:02:03</itunes:duration></item>
<item><title>Episode 2</title><guid>ep2</guid><link>https://podcast.example/2</link>
<enclosure url="https://cdn.podcast.example/ep2.mp3" type="audio/mpeg" length="2000"/>
<itunes:duration>95</itunes:duration>{second_image}</item>
</channel></rss>""".encode()


def test_durations_in_every_itunes_form() -> None:
    assert [duration_seconds(text) for text in ("1:02:03", "62:03", "3723", "95.5")] == [
        3723,
        3723,
        3723,
        95,
    ]
    assert [duration_seconds(text) for text in (None, "", "soon", "1:2:3:4", "-5")] == [None] * 5


def test_an_episode_has_its_own_artwork_else_the_cover() -> None:
    document = parse_document(
        podcast(f'<itunes:image href="{OWN}"/>'), "https://podcast.example/feed", {}
    )
    first, second = document.entries
    assert (first.image, second.image) == (COVER, OWN)
    assert first.enclosures[0].duration == 3723


def test_the_republished_podcast_keeps_durations_and_artwork(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/show.xml", Reply.feed(podcast()))
    hub = open_hub(write_config([{"url": url, "name": "The Show"}]), clock)
    hub.run_once()
    files = output_files(hub.settings)

    rss = etree.fromstring(files["all/rss.xml"])
    channel = rss.find("channel")
    assert channel is not None
    assert channel.findtext("image/url") == COVER
    assert channel.find(f"{{{ITUNES}}}image").get("href") == COVER
    items = {item.findtext("title"): item for item in channel.iter("item")}
    assert items["Episode 1"].findtext(f"{{{ITUNES}}}duration") == "3723"
    assert items["Episode 2"].findtext(f"{{{ITUNES}}}duration") == "95"
    assert items["Episode 1"].find(f"{{{ITUNES}}}image").get("href") == COVER
    assert items["Episode 1"].find("enclosure").get("url") == "https://cdn.podcast.example/ep1.mp3"
    read = feedparser.parse(files["all/rss.xml"])
    assert not read.bozo, read.get("bozo_exception")
    assert {entry.itunes_duration for entry in read.entries} == {"3723", "95"}

    feed = json.loads(files["all/feed.json"])
    episode = next(item for item in feed["items"] if item["title"] == "Episode 1")
    assert episode["image"] == COVER
    assert episode["attachments"][0]["duration_in_seconds"] == 3723
    assert_valid_atom(files["all/atom.xml"])
