"""Entry identity and updates over several polls: guid churn, shared guids, repeats, articles
carried twice, cosmetic versus real changes, the daily rewrite cap, and dates that are
missing or in the future."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from feedhub.core.models import EntryToStore
from feedhub.parse.normalize import canonical_link
from feedhub.rules import dedupe
from feedhub.rules.entries import KnownEntry
from feedhub.store.schema import entry_aliases
from tests.conftest import ConfigWriter
from tests.feedfiles import Sources, item, rss

ARTICLE = "https://news.example/2025/07/story"
BLANK: dict[str, Any] = {
    "link": None,
    "title": "Story",
    "summary_html": None,
    "content_html": None,
    "authors": (),
    "labels": (),
    "enclosures": (),
    "published": None,
    "updated": None,
    "content_hash": "",
}


def known_entry(entry_id: int, canonical_link: str) -> KnownEntry:
    moment = datetime(2025, 7, 4, tzinfo=UTC)
    return KnownEntry(entry_id, canonical_link, "", moment, moment, None, None)


@pytest.fixture
def one(tmp_path: Path, write_config: ConfigWriter) -> Sources:
    return Sources(tmp_path, write_config)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("http://news.example/a", "https://news.example/a"),
        ("https://www.news.example/a", "https://news.example/a"),
        ("https://news.example/a/", "https://news.example/a"),
        ("https://news.example/a?utm_source=rss&utm_medium=feed", "https://news.example/a"),
        ("https://news.example/a?id=1&fbclid=x", "https://news.example/a?gclid=y&id=1"),
    ],
)
def test_guid_churn_keeps_the_entry_and_records_the_alias(
    one: Sources, first: str, then: str
) -> None:
    one.poll(rss(item("Story", guid=first, link=ARTICLE)))
    [before] = one.published()
    # The title changes too: only the guid, written another way, tells it is the same entry.
    summary = one.poll(rss(item("Story, corrected", guid=then, link=ARTICLE)))
    assert summary.new_entries == 0
    [after] = one.published()
    assert after.id == before.id
    with one.hub.store.reading() as connection:
        recorded = set(connection.execute(sa.select(entry_aliases.c.alias)).scalars())
    assert dedupe.digest(then) in recorded


def test_a_new_guid_with_the_same_link_and_title_is_the_same_entry(one: Sources) -> None:
    one.poll(rss(item("Story", guid="cms-1", link=ARTICLE)))
    [before] = one.published()
    summary = one.poll(rss(item("Story", guid="cms-2-migrated", link=ARTICLE + "/")))
    assert summary.new_entries == 0
    assert [entry.id for entry in one.published()] == [before.id]


def test_a_new_guid_and_title_on_the_same_link_is_not_shown_twice(one: Sources) -> None:
    one.poll(rss(item("Story", guid="cms-1", link=ARTICLE)))
    one.poll(rss(item("Story (corrected)", guid="cms-2", link=ARTICLE)))
    published = one.published()
    assert [canonical_link(entry.link) for entry in published] == [canonical_link(ARTICLE)]


def test_items_sharing_a_guid_but_not_a_link_are_two_entries_with_stable_ids(
    one: Sources,
) -> None:
    first = item("First", guid="same", link="https://news.example/first")
    second = item("Second", guid="same", link="https://news.example/second")
    one.poll(rss(item("Alone", guid="same", link="https://news.example/first")))
    [alone] = one.published()
    one.poll(rss(first, second))
    ids = {entry.title: entry.id for entry in one.published()}
    assert set(ids) == {"First", "Second"}
    assert ids["First"] == alone.id  # the entry stored before the second one appeared
    one.poll(rss(second, first))  # reordered
    assert {entry.title: entry.id for entry in one.published()} == ids
    summary = one.poll(rss(second))  # the first one is gone upstream
    assert summary.new_entries == 0
    assert {entry.title: entry.id for entry in one.published()} == ids


def test_exact_repeats_inside_one_document_are_one_entry(one: Sources) -> None:
    repeated = item("Repeated", guid="rep", link="https://news.example/rep")
    summary = one.poll(
        rss(repeated, item("Other", guid="o", link="https://news.example/o"), repeated)
    )
    assert summary.new_entries == 2
    assert sorted(entry.title for entry in one.published()) == ["Other", "Repeated"]


def test_new_items_of_one_document_sharing_a_link_show_once(one: Sources) -> None:
    summary = one.poll(
        rss(
            item("Live: the vote", guid="live-1", link=ARTICLE),
            item("Live: the count", guid="live-2", link=ARTICLE + "?utm_source=rss"),
        )
    )
    assert summary.new_entries == 2
    assert [entry.title for entry in one.published()] == ["Live: the vote"]


def test_a_moved_link_loses_to_an_unmoved_one_and_title_matches_come_last() -> None:
    stored = {
        dedupe.digest("g"): known_entry(1, "news.example/one"),
        dedupe.digest("title:news.example/one\nstory"): known_entry(1, "news.example/one"),
        dedupe.digest("g\nnews.example/two"): known_entry(2, "news.example/two"),
    }
    same_guid_elsewhere = EntryToStore(
        **{**BLANK, "key": "g", "canonical_link": "news.example/two"},
        aliases=("g\nnews.example/two",),
    )
    assert dedupe.match([same_guid_elsewhere], stored) == [2]
    moved = EntryToStore(**{**BLANK, "key": "g", "canonical_link": "news.example/three"})
    new_guid = EntryToStore(
        **{**BLANK, "key": "h", "canonical_link": "news.example/one"},
        aliases=("title:news.example/one\nstory",),
    )
    # The title match has the unmoved link, but a guid match beats a title match.
    assert dedupe.match([new_guid, moved], stored) == [None, 1]


def test_an_article_from_two_sources_appears_once_credited_to_the_first(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    two = Sources(tmp_path, write_config, 2)
    two.poll(rss(item("Story", guid="a-1", link=ARTICLE)), None)
    two.poll(None, rss(item("Same story", guid="b-9", link=ARTICLE + "?utm_source=b")))
    two.poll(rss(item("Story", guid="a-1", link=ARTICLE)), None)
    [entry] = two.published()
    assert entry.title == "Story" and entry.source.title == "Source 0"


def test_a_link_change_that_makes_two_articles_one_shows_it_once(one: Sources) -> None:
    kept = item("Kept", guid="k", link="https://news.example/kept")
    one.poll(rss(kept, item("Moving", guid="m", link="https://news.example/moving")))
    assert len(one.published()) == 2
    summary = one.poll(rss(kept, item("Moved", guid="m", link="https://news.example/kept/")))
    assert summary.updated_entries == 1
    published = one.published()
    assert [entry.title for entry in published] == ["Kept"]
    summary = one.poll(rss(kept, item("Moved back", guid="m", link="https://news.example/moving")))
    assert sorted(entry.title for entry in one.published()) == ["Kept", "Moved back"]


def test_a_new_entry_on_a_link_another_entry_just_left_is_an_article_of_its_own(
    one: Sources,
) -> None:
    one.poll(
        rss(item("X", guid="x", link=ARTICLE + "-0"), item("Y", guid="y", link=ARTICLE + "-2"))
    )
    one.poll(
        rss(
            item("X moved", guid="x", link=ARTICLE + "-2"), item("Z", guid="z", link=ARTICLE + "-0")
        )
    )
    published = one.published()
    assert sorted(entry.title for entry in published) == ["Y", "Z"]


def test_a_copy_rewritten_while_its_article_moves_onto_another_shows_the_article_once(
    one: Sources,
) -> None:
    other = "https://news.example/2025/07/other"
    one.poll(
        rss(
            item("A", guid="a", link=ARTICLE),
            item("A, syndicated", guid="b", link=ARTICLE + "?utm_source=x"),
            item("C", guid="c", link=other),
        )
    )
    assert len(one.published()) == 2
    # A moves onto C's link (C's article now), and its copy changes in the same poll.
    one.poll(
        rss(
            item("A moved", guid="a", link=other),
            item("A, syndicated", guid="b", link=ARTICLE + "?utm_source=x", description="new"),
            item("C", guid="c", link=other),
        )
    )
    assert [entry.title for entry in one.published()] == ["C"]


BODY = "<p>Shares rose 3% on the news. <a href='https://news.example/more'>More</a></p>"


@pytest.mark.parametrize(
    "cosmetic",
    [
        "<p>Shares rose 3%   on the\n news.  <a href='https://news.example/more'>More</a></p>\n",
        "<p>Shares rose 3% on the news. <a href='https://news.example/more?utm_source=rss'>"
        "More</a></p>",
        "<p>Updated 12:03. Shares rose 3% on the news. "
        "<a href='https://news.example/more'>More</a></p>",
        "<p>Last updated: July 4, 2025 at 12:09 PM EDT</p>" + BODY,
        "<p>As of <time datetime='2025-07-04T12:09:00Z'>12:09</time>:</p>" + BODY,
        BODY + "<p>Generated 2025-07-04T12:31:07+00:00</p>",
    ],
)
def test_cosmetic_changes_do_not_update_the_entry(one: Sources, cosmetic: str) -> None:
    stamped = {
        "Updated 12:03.": "Updated 11:58.",
        "12:09": "11:02",
        "2025-07-04T12:31:07": "2025-07-04T11:00:00",
    }
    original = cosmetic if any(k in cosmetic for k in stamped) else BODY
    for new, old in stamped.items():
        original = original.replace(new, old)
    one.poll(rss(item("Story", guid="s", link=ARTICLE, description=original)))
    [before] = one.published()
    summary = one.poll(rss(item("Story", guid="s", link=ARTICLE, description=cosmetic)))
    assert summary.updated_entries == 0
    [after] = one.published()
    assert after.updated == before.updated


def test_a_real_change_updates_the_entry_in_place(one: Sources) -> None:
    one.poll(rss(item("Story", guid="s", link=ARTICLE, description=BODY)))
    [before] = one.published()
    changed = BODY.replace("3%", "5%")
    summary = one.poll(rss(item("Story", guid="s", link=ARTICLE, description=changed)))
    assert summary.updated_entries == 1
    [after] = one.published()
    assert after.id == before.id
    assert after.updated_parsed > before.updated_parsed
    assert after.published == before.published
    assert "5%" in after.summary


def test_an_entry_changing_on_every_poll_is_rewritten_a_few_times_a_day(one: Sources) -> None:
    rewrites = 0
    for poll in range(12):
        body = f"<p>Live ticker, reading number {poll}</p>"
        summary = one.poll(rss(item("Live", guid="live", link=ARTICLE, description=body)))
        rewrites += summary.updated_entries
    assert rewrites == dedupe.UPDATES_PER_DAY
    [entry] = one.published()
    assert "number 11" not in entry.summary
    one.clock.advance(timedelta(days=1))  # a new window: the latest text is stored now
    summary = one.poll(rss(item("Live", guid="live", link=ARTICLE, description=body + " ")))
    assert summary.updated_entries == 1
    [entry] = one.published()
    assert "number 11" in entry.summary


def test_an_undated_entry_takes_its_first_seen_time_and_keeps_it(one: Sources) -> None:
    first_seen = one.clock.now
    one.poll(rss(item("Undated", guid="u", link=ARTICLE, description="one")))
    one.poll(rss(item("Undated", guid="u", link=ARTICLE, description="two")))
    one.poll(
        rss(
            item("Newer", guid="n", link=ARTICLE + "-2"),
            item("Undated", guid="u", link=ARTICLE, description="two"),
        )
    )
    undated = next(entry for entry in one.published() if entry.title == "Undated")
    assert undated.published == first_seen.isoformat()


def test_a_future_date_sorts_at_its_first_seen_time(one: Sources) -> None:
    one.poll(
        rss(
            item(
                "Older", guid="o", link=ARTICLE + "-old", published="Thu, 03 Jul 2025 10:00:00 GMT"
            )
        )
    )
    arrived = one.clock.now
    future = item(
        "From the future", guid="f", link=ARTICLE, published="Mon, 01 Jan 2035 00:00:00 GMT"
    )
    one.poll(rss(future))
    one.clock.advance(timedelta(days=2))
    later = item(
        "Later",
        guid="l",
        link=ARTICLE + "-later",
        published=one.clock.now.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    )
    one.poll(rss(future, later))
    titles = [entry.title for entry in one.published()]
    assert titles == ["Later", "From the future", "Older"]
    assert next(e for e in one.published() if e.title == "From the future").published == (
        arrived.isoformat()
    )


def test_a_huge_guid_and_link_are_stored_and_recognized(one: Sources) -> None:
    guid = "urn:x:" + "g" * 5000
    huge_link = ARTICLE + "?q=" + "x" * 3000
    document = rss(
        item("Huge guid", guid=guid, link=ARTICLE),
        item("Huge link", guid="h", link=huge_link),
        item("Huge guid, again", guid=guid, link=ARTICLE + "-other"),
    )
    assert one.poll(document).new_entries == 3
    assert one.poll(document + b" ").new_entries == 0
    links = {
        entry.title: [link.href for link in entry.get("links", [])] for entry in one.published()
    }
    assert links == {
        "Huge guid": [ARTICLE],
        "Huge link": [],  # not a link anyone follows: dropped
        "Huge guid, again": [ARTICLE + "-other"],
    }


def test_links_moving_in_a_chain_in_one_poll_keep_every_listed_article(one: Sources) -> None:
    # Found by the property test: entry a takes b's link while b, later in the same
    # document, moves on to c's. Every link the source lists must stay published.
    base = "https://news.example/"
    one.poll(rss(item("A", guid="a", link=base + "a"), item("B", guid="b", link=base + "b")))
    one.poll(
        rss(
            item("A", guid="a", link=base + "b"),
            item("C", guid="c", link=base + "c"),
            item("B", guid="b", link=base + "c"),
        )
    )
    shown = {canonical_link(entry.link) for entry in one.published()}
    assert {canonical_link(base + "b"), canonical_link(base + "c")} <= shown
