"""Feeds for tests of several workers: many sources whose articles overlap across sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

START = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def rss(title: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 document with one item per (guid, link), dated an hour apart."""
    rendered = "".join(
        f"<item><title>{escape(title)}: article {number}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{escape(guid)}</guid>'
        f"<pubDate>{format_datetime(START + timedelta(hours=number))}</pubDate>"
        f"<description>Article {number} as {escape(title)} tells it.</description></item>"
        for number, (guid, link) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://{title}.example.org/</link>"
        f"<description>{escape(title)}</description>{rendered}</channel></rss>"
    ).encode()


def shared_articles(source: int, own: int = 2, shared: int = 3) -> bytes:
    """Source `source`'s feed: `own` articles only it has, and `shared` every source carries."""
    items = [(f"s{source}-own-{n}", f"https://news.example.org/s{source}/{n}") for n in range(own)]
    items += [
        (f"s{source}-shared-{n}", f"https://wire.example.org/story/{n}") for n in range(shared)
    ]
    return rss(f"source{source}", items)
