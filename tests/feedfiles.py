"""Feeds written by tests: RSS documents built item by item, served from local files to a
hub on a fake clock, and what that hub published, read back with feedparser."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

from feedhub.app.hub import Hub
from feedhub.app.poll import PollSummary
from tests.conftest import ATOM_SCHEMA, ConfigWriter, FakeClock, open_hub

_ATOM_SCHEMA: list[etree.RelaxNG] = []


def item(
    title: str | None = "Title",
    *,
    guid: str | None = None,
    link: str | None = None,
    description: str | None = None,
    published: str | None = None,
    categories: Sequence[str] = (),
    enclosures: Sequence[str] = (),
) -> str:
    """One RSS <item>; text is escaped once, as a careful publisher would."""
    parts = [f"<title>{escape(title)}</title>"] if title is not None else []
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if description is not None:
        parts.append(f"<description>{escape(description)}</description>")
    if published is not None:
        parts.append(f"<pubDate>{published}</pubDate>")
    parts += [f"<category>{escape(label)}</category>" for label in categories]
    parts += enclosures
    return "<item>" + "".join(parts) + "</item>"


def rss(*items: str, title: str = "Source") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://news.example/</link>"
        + "".join(items)
        + "</channel></rss>\n"
    ).encode()


class Sources:
    """Sources that are local files, polled by one hub whose clock the test moves."""

    def __init__(
        self,
        folder: Path,
        write_config: ConfigWriter,
        count: int = 1,
        *,
        categories: dict[str, dict[str, Any]] | None = None,
        source_categories: Sequence[Sequence[str]] = (),
        **sections: dict[str, Any],
    ) -> None:
        self.paths = [folder / f"source-{number}.xml" for number in range(count)]
        configured = []
        for number, path in enumerate(self.paths):
            wanted = list(source_categories[number]) if number < len(source_categories) else []
            configured.append({"url": str(path), "name": f"Source {number}", "categories": wanted})
        self.config = write_config(configured, categories, **sections)
        self.clock = FakeClock()
        self.hub = open_hub(self.config, self.clock)

    def reopen(self) -> Hub:
        """A new hub on the same store (as after a restart), keeping the clock."""
        self.hub.close()
        self.hub.store.close()
        self.hub = open_hub(self.config, self.clock)
        return self.hub

    def poll(
        self, *documents: bytes | None, advance: timedelta = timedelta(minutes=30)
    ) -> PollSummary:
        """Write each source's document (None leaves it as it is), poll all, move the clock."""
        for path, document in zip(self.paths, documents, strict=False):
            if document is not None:
                path.write_bytes(document)
        summary = self.hub.run_once(everything=True)
        self.clock.advance(advance)
        return summary

    def output(self, slug: str, name: str) -> bytes:
        return (self.hub.settings.hub.output_dir / slug / name).read_bytes()

    def published(self, slug: str = "all") -> list[feedparser.FeedParserDict]:
        """The entries of a published Atom feed, checked: valid, parsed cleanly."""
        body = self.output(slug, "atom.xml")
        assert_valid_atom(body)
        return list(feedparser.parse(body).entries)

    def json_feed(self, slug: str = "all") -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.output(slug, "feed.json"))
        return document


def assert_valid_atom(body: bytes) -> None:
    if not _ATOM_SCHEMA:
        _ATOM_SCHEMA.append(etree.RelaxNG(etree.parse(str(ATOM_SCHEMA))))
    schema = _ATOM_SCHEMA[0]
    assert schema.validate(etree.fromstring(body)), schema.error_log
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
