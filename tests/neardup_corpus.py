"""The labelled near-duplicate corpus (tests/fixtures/neardup/corpus.json) and copies of its
stories as stored entries, for the near-duplicate tests."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from feedhub.core.models import EntryToStore
from feedhub.parse.document import parse_document
from feedhub.parse.normalize import normalize_entry
from feedhub.rules.routing import ALL
from feedhub.store.entries import RoutedEntry

CORPUS = Path(__file__).parent / "fixtures" / "neardup" / "corpus.json"


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled text: items of one `story` are copies of it."""

    id: str
    story: str
    title: str
    body_html: str


def corpus() -> list[Item]:
    document = json.loads(CORPUS.read_text(encoding="utf-8"))
    return [Item(i["id"], i["story"], i["title"], i["body_html"]) for i in document["items"]]


def by_id() -> dict[str, Item]:
    return {item.id: item for item in corpus()}


@dataclass(frozen=True, slots=True)
class Copy:
    """A corpus item as one site publishes it: under its own guid and link, at a time."""

    item: Item
    site: str
    published: datetime

    @property
    def link(self) -> str:
        return f"https://{self.site}.example/{self.item.id.replace('/', '-')}"


def rss_document(site: str, copies: Sequence[Copy]) -> bytes:
    items = "".join(
        f"<item><title>{escape(copy.item.title)}</title><link>{copy.link}</link>"
        f'<guid isPermaLink="false">{site}:{copy.item.id}</guid>'
        f"<pubDate>{format_datetime(copy.published)}</pubDate>"
        f"<description>{escape(copy.item.body_html)}</description></item>"
        for copy in copies
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{site}</title><link>https://{site}.example/</link>{items}</channel></rss>"
    ).encode()


def entries_of(site: str, copies: Sequence[Copy]) -> Iterator[EntryToStore]:
    document = parse_document(
        rss_document(site, copies), f"https://{site}.example/feed", {"content-type": "text/xml"}
    )
    for entry in document.entries:
        yield normalize_entry(entry)


def routed(site: str, copies: Sequence[Copy], *categories: str) -> list[RoutedEntry]:
    return [RoutedEntry(entry, frozenset({ALL, *categories})) for entry in entries_of(site, copies)]
