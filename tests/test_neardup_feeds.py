"""Near-duplicate stories in what is published: newspapers carrying the same wire stories
under their own links reach each category once, with the other copies as related links in
Atom, RSS and JSON Feed; a category shows only copies from sources routed to it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.conftest import ConfigWriter, FakeClock
from tests.feedfiles import Sources, item, rss
from tests.neardup_corpus import Copy, by_id, rss_document

ATOM = {"a": "http://www.w3.org/2005/Atom"}
STORIES = ("fed", "quake", "river", "vaccine")
# Each paper's own take on the wire copy, and how long after the first one it published.
PAPERS = {"ledger": ("case", 0), "courier": ("dateline", 7), "gazette": ("intro", 15)}
LOOK_ALIKES = {
    "ledger": ["lookalike/briefing-monday", "lookalike/weather-1", "lookalike/short-1"],
    "courier": ["lookalike/briefing-monday-2", "lookalike/weather-2", "lookalike/short-2"],
    "gazette": ["lookalike/quake-followup", "lookalike/footer-1"],
}
CATEGORIES = {"news": {"title": "News"}, "raw": {"title": "Raw", "dedupe": False}}


def papers(folder: Path, write_config: ConfigWriter) -> Sources:
    sources = Sources(
        folder, write_config, 3, categories=CATEGORIES, source_categories=[["news", "raw"]] * 3
    )
    at = FakeClock().now - timedelta(hours=2)
    items = by_id()
    for path, (site, (variant, late)) in zip(sources.paths, PAPERS.items(), strict=True):
        copies = [
            Copy(items[f"{s}/{variant}"], site, at + timedelta(minutes=late)) for s in STORIES
        ]
        copies += [Copy(items[name], site, at) for name in LOOK_ALIKES[site]]
        path.write_bytes(rss_document(site, copies))
    return sources


@pytest.fixture
def three(tmp_path: Path, write_config: ConfigWriter) -> Sources:
    return papers(tmp_path, write_config)


def test_each_wire_story_reaches_a_category_once_with_the_other_papers_related(
    three: Sources,
) -> None:
    three.poll()
    titles = [entry.title for entry in three.published("news")]
    look_alikes = sum(len(names) for names in LOOK_ALIKES.values())
    assert len(titles) == len(STORIES) + look_alikes
    atom = etree.fromstring(three.output("news", "atom.xml"))
    for story in STORIES:
        [entry] = [
            e for e in atom.findall("a:entry", ATOM) if f"ledger.example/{story}-" in _link(e)
        ]
        related = [
            (link.get("href"), link.get("title"))
            for link in entry.findall("a:link[@rel='related']", ATOM)
        ]
        assert related == [
            (f"https://courier.example/{story}-dateline", "Source 1"),
            (f"https://gazette.example/{story}-intro", "Source 2"),
        ]


def test_related_links_in_rss_and_json_feed(three: Sources) -> None:
    three.poll()
    rss_root = etree.fromstring(three.output("news", "rss.xml"))
    related = rss_root.findall("channel/item/a:link[@rel='related']", ATOM)
    assert len(related) == 2 * len(STORIES)
    assert {link.get("title") for link in related} == {"Source 1", "Source 2"}
    items = three.json_feed("news")["items"]
    fed = next(i for i in items if i["url"] == "https://ledger.example/fed-case")
    assert fed["_source"]["related"] == [
        {"url": "https://courier.example/fed-dateline", "title": "Source 1"},
        {"url": "https://gazette.example/fed-intro", "title": "Source 2"},
    ]


def test_ids_stay_the_same_across_runs_and_restarts(three: Sources) -> None:
    three.poll()
    first = {entry.id for entry in three.published("news")}
    three.poll()
    three.reopen()
    three.poll()
    assert {entry.id for entry in three.published("news")} == first


def test_a_category_with_dedupe_off_shows_every_copy(three: Sources) -> None:
    three.poll()
    raw = three.json_feed("raw")["items"]
    for story in STORIES:
        copies = [i for i in raw if f".example/{story}-" in i["url"]]
        assert len(copies) == len(PAPERS), story
    news = three.json_feed("news")["items"]
    assert len(raw) == len(news) + 2 * len(STORIES)


def trusted_and_untrusted(folder: Path, write_config: ConfigWriter, **kw: Any) -> Sources:
    return Sources(
        folder,
        write_config,
        2,
        categories={"trusted": {"title": "Trusted"}, "misc": {"title": "Misc"}},
        source_categories=[["misc"], ["trusted"]],
        **kw,
    )


def test_an_untrusted_source_cannot_put_its_text_into_a_trusted_category(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    sources = trusted_and_untrusted(tmp_path, write_config)
    link = "https://bank.example/news/rates"
    sources.poll(
        rss(item("Verify your account now", guid="bait", link=link, description="Log in here")),
        None,
    )
    sources.poll(
        None,
        rss(item("Bank raises savings rates", guid="real", link=link, description="Rates up.")),
    )
    [trusted] = sources.json_feed("trusted")["items"]
    assert trusted["title"] == "Bank raises savings rates"
    assert trusted["content_html"] == "Rates up."
    assert trusted["_source"]["title"] == "Source 1"
    assert "related" not in trusted["_source"] and "alternate_urls" not in trusted["_source"]
    [misc] = sources.json_feed("misc")["items"]
    assert misc["title"] == "Verify your account now"


def _link(entry: etree._Element) -> str:
    alternate = entry.find("a:link[@rel='alternate']", ATOM)
    return "" if alternate is None else str(alternate.get("href"))


def test_an_entry_rewritten_into_a_new_category_is_shown_there(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    sources = Sources(
        tmp_path, write_config, 1, categories={"tech": {"title": "Tech", "match": ["Tech"]}}
    )
    sources.poll(rss(item("Chips", guid="c", link="https://a.example/c", description="One.")))
    assert sources.json_feed("tech")["items"] == []
    retagged = item(
        "Chips", guid="c", link="https://a.example/c", description="Two.", categories=["Tech"]
    )
    sources.poll(rss(retagged))
    assert [i["content_html"] for i in sources.json_feed("tech")["items"]] == ["Two."]
