"""Property tests: any sequence of mutating documents from two sources, polled by a hub on a
moving clock, leaves published feeds that hold no id twice and no canonical link twice,
validate against the Atom schema, and parse with feedparser without complaint.

The documents churn the way real feeds do: guids rewritten (scheme, www., trailing
slash, tracking parameters, brand new), links moved (onto another article's too),
titles escaped twice or holding control characters, bodies with whitespace and
timestamp noise, dates missing, invalid, zoneless or in the future, repeated items,
enclosures, items vanishing and coming back; the clock jumps past retention.
"""

from __future__ import annotations

import html
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from pathlib import Path

import feedparser
import nh3
import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhub.app.hub import Hub
from feedhub.config.settings import load_config
from feedhub.core.text import plain_text
from feedhub.parse.normalize import canonical_link
from feedhub.store.facade import Store
from tests.conftest import FakeClock
from tests.feedfiles import assert_valid_atom

ARTICLES = 6
GUIDS = [
    "https://news.example/{n}",
    "http://news.example/{n}",
    "https://www.news.example/{n}/",
    "https://news.example/{n}?utm_source=rss&fbclid=x",
    "cms-{n}-{variant}",
]
LINKS = [
    "https://news.example/{n}",
    "https://news.example/{n}/?utm_medium=feed",
    "http://www.news.example/{n}",
    "https://news.example/{other}",  # moved onto another article's link
]
TITLES = [
    "Story {n}",
    "AT&amp;amp;T story {n}",
    "Story {n} &lt;b&gt;bold&lt;/b&gt;",
    "Story\x07 {n}",
    "",
]
BODIES = [
    "<p>Body of story {n}.</p>",
    "<p>Body of   story {n}.</p>\n",
    "<p>Updated {variant}:0{variant}. Body of story {n}.</p>",
    "<p>Body of story {n}, revised {variant} times.</p>",
    "<p>Oil news {n} <script>x()</script><iframe src='https://evil.example/'></iframe></p>",
]
DATES = [
    None,
    "Fri, 04 Jul 2025 0{variant}:00:00 GMT",
    "Fri, 04 Jul 2025 09:30:00",  # no zone
    "Mon, 01 Jan 2035 00:00:00 GMT",  # the future
    "Fri, 31 Feb 2025 10:00:00 GMT",  # invalid
    "2025-07-03T10:0{variant}:00+02:00",
]


@dataclass(frozen=True)
class Item:
    article: int
    guid: int
    link: int
    other: int
    title: int
    body: int
    date: int
    variant: int
    enclosure: bool

    def render(self) -> str:
        values = {"n": self.article, "other": self.other, "variant": self.variant}
        parts = [f"<guid>{escape(GUIDS[self.guid].format(**values))}</guid>"]
        parts.append(f"<link>{escape(LINKS[self.link].format(**values))}</link>")
        if title := TITLES[self.title].format(**values):
            parts.append(f"<title>{title}</title>")
        parts.append(f"<description>{escape(BODIES[self.body].format(**values))}</description>")
        if (date := DATES[self.date]) is not None:
            parts.append(f"<pubDate>{date.format(**values)}</pubDate>")
        if self.enclosure:
            parts.append(f'<enclosure url="/media/{self.article}.mp3"/>')
        parts.append("<category>World</category>" if self.article % 2 else "")
        return "<item>" + "".join(parts) + "</item>"


items = st.builds(
    Item,
    article=st.integers(0, ARTICLES - 1),
    guid=st.integers(0, len(GUIDS) - 1),
    link=st.integers(0, len(LINKS) - 1),
    other=st.integers(0, ARTICLES - 1),
    title=st.integers(0, len(TITLES) - 1),
    body=st.integers(0, len(BODIES) - 1),
    date=st.integers(0, len(DATES) - 1),
    variant=st.integers(1, 3),
    enclosure=st.booleans(),
)
documents = st.lists(items, max_size=5)
# A poll: each source's new document, or None when it serves the same bytes again.
polls = st.tuples(st.none() | documents, st.none() | documents)
steps = st.lists(st.tuples(polls, st.sampled_from([10, 60, 60 * 30])), min_size=1, max_size=5)


def rss(document: list[Item]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>S</title>'
        "<link>https://news.example/</link>"
        + "".join(item.render() for item in document)
        + "</channel></rss>"
    ).encode()


def write_config(folder: Path, paths: list[Path]) -> Path:
    config = folder / "feedhub.toml"
    document = {
        "hub": {
            "title": "properties",
            "base_url": "http://feeds.test/",
            "output_dir": "public",
            "database": "sqlite:///feedhub.sqlite",
            "keep_days": 1,
            "keep_min": 1,
        },
        "categories": {
            "world": {"title": "World", "match": ["World"], "max_per_source": 1},
            "energy": {"title": "Energy", "keywords": ["oil"], "exclude": ["revised"]},
        },
        "sources": [{"url": str(path), "name": f"Source {n}"} for n, path in enumerate(paths)],
    }
    config.write_text(tomlkit.dumps(document))
    return config


def check_published(output: Path, listed: list[list[Item]]) -> None:
    """Valid, no repeats, and content arrives: when a source lists anything, `all` shows it.

    That every listed article arrives (as an entry, or as a related link of its story)
    is not asserted: with --hypothesis-seed=1 a rare sequence of link moves and copies
    loses one, a known defect not fixed yet."""
    arrived = feedparser.parse((output / "all" / "atom.xml").read_bytes()).entries
    assert arrived or not any(listed), listed
    for slug in ("all", "world", "energy"):
        atom = (output / slug / "atom.xml").read_bytes()
        assert_valid_atom(atom)
        entries = feedparser.parse(atom).entries
        ids = [entry.id for entry in entries]
        assert len(ids) == len(set(ids)), (slug, ids)
        links = [canonical_link(entry.link) for entry in entries if entry.get("link")]
        assert len(links) == len(set(links)), (slug, links)
        rss = feedparser.parse((output / slug / "rss.xml").read_bytes())
        assert rss.bozo == 0, (slug, rss.get("bozo_exception"))
        assert sorted(entry.id for entry in rss.entries) == sorted(ids)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps)
def test_published_feeds_stay_valid_and_free_of_repeats(
    sequence: list[tuple[tuple[list[Item] | None, list[Item] | None], int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"source-{n}.xml" for n in range(2)]
        for path in paths:
            path.write_bytes(rss([]))
        loaded = load_config(write_config(Path(folder), paths))
        clock = FakeClock()
        hub = Hub(loaded, Store.open(loaded.hub.database), clock)
        hub.sync_sources()
        listed: list[list[Item]] = [[], []]
        try:
            for documents_of_poll, minutes in sequence:
                for n, (path, document) in enumerate(zip(paths, documents_of_poll, strict=True)):
                    if document is not None:
                        path.write_bytes(rss(document))
                        listed[n] = document
                hub.run_once(everything=True)
                check_published(hub.settings.hub.output_dir, listed)
                clock.advance(timedelta(minutes=minutes))
        finally:
            hub.close()
            hub.store.close()


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_characters="<&", blacklist_categories=("Cs",)),
        max_size=80,
    )
)
def test_a_title_without_tags_or_entities_reads_as_the_html_cleaner_would_read_it(
    text: str,
) -> None:
    # plain_text skips nh3 for such titles; this is what nh3 would have made of them.
    cleaned = html.unescape(nh3.clean(text, tags=set()))
    assert plain_text(text, is_html=True) == plain_text(cleaned, is_html=False)


def test_a_title_with_a_lone_surrogate_is_cleaned_not_a_crash() -> None:
    assert plain_text("<b>broken \ud800title</b>", is_html=True) == "broken title"
    assert plain_text("broken \udfff title", is_html=True) == "broken title"


@pytest.mark.xfail(
    strict=True,
    reason="known defect: when an article moves onto another article's link, the copies it "
    "leaves on its old link follow it (store.entries._rehome), and one is later shown under "
    "the other article's id beside the article that comes back to that link",
)
def test_copies_left_on_a_link_do_not_follow_their_article_away(tmp_path: Path) -> None:
    # Found by the property test above: one source, three polls.
    def story(**changed: int) -> Item:
        plain = {"article": 0, "guid": 0, "link": 0, "other": 0, "title": 0, "body": 0}
        return Item(**{**plain, "date": 0, "variant": 1, "enclosure": False, **changed})

    polls = [
        [story(), story(article=5), story(article=5, guid=1, date=5)],  # 5, and a copy of it
        [story(article=5, link=3), story()],  # 5 moves onto 0's link; its copy is gone
        [story(), story(article=5)],  # 5 comes back to its own link
    ]
    path = tmp_path / "source.xml"
    loaded = load_config(write_config(tmp_path, [path]))
    clock = FakeClock()
    hub = Hub(loaded, Store.open(loaded.hub.database), clock)
    hub.sync_sources()
    try:
        for document in polls:
            path.write_bytes(rss(document))
            hub.run_once(everything=True)
            check_published(hub.settings.hub.output_dir, [document])
            clock.advance(timedelta(minutes=10))
    finally:
        hub.close()
        hub.store.close()
