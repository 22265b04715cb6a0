"""Render one published feed as JSON Feed 1.1 (https://jsonfeed.org/version/1.1).

Deterministic like the Atom and RSS renderings: items in the order given
(newest first), every date from the data, keys in a fixed order, so unchanged
data gives identical bytes. Items keep the Atom entry id, so a reader switching
formats sees the same articles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feedhub.core.models import PublishedEntry
from feedhub.core.text import plain_text
from feedhub.core.urls import web_url
from feedhub.publish.catalog import JSON_FEED, FeedInfo

VERSION = "https://jsonfeed.org/version/1.1"
# Custom objects in JSON Feed start with "_"; `about` says where they are documented.
SOURCE_EXTENSION = "_source"
SOURCE_EXTENSION_ABOUT = "https://github.com/feedhub/feedhub#subscribing"


def render_json_feed(feed: FeedInfo, published: Sequence[PublishedEntry]) -> bytes:
    document = {
        "version": VERSION,
        "title": feed.title,
        "home_page_url": feed.base_url,
        "feed_url": feed.url(JSON_FEED),
        "description": f"{feed.title}, gathered from its sources by feedhub",
        "authors": [{"name": feed.title}],
        "language": "en",
        "items": [_item(entry) for entry in published],
    }
    if feed.hub:
        document["hubs"] = [{"type": "WebSub", "url": feed.hub}]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _item(entry: PublishedEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.uid}
    if entry.link:
        item["url"] = entry.link
    item["title"] = entry.title
    body = entry.content_html or entry.summary_html
    if body:
        item["content_html"] = body
    else:
        # Every item needs content; an entry with neither body has only its title.
        item["content_text"] = entry.title
    if entry.content_html and entry.summary_html:
        item["summary"] = plain_text(entry.summary_html, is_html=True)
    item["date_published"] = _rfc3339(entry.published)
    item["date_modified"] = _rfc3339(entry.updated)
    if entry.authors:
        item["authors"] = [{"name": author} for author in entry.authors]
    if entry.labels:
        item["tags"] = list(entry.labels)
    if entry.image:
        item["image"] = entry.image
    if entry.enclosures:
        item["attachments"] = [
            {"url": enclosure.url, "mime_type": enclosure.type}
            | ({"size_in_bytes": enclosure.length} if enclosure.length > 0 else {})
            | ({"duration_in_seconds": enclosure.duration} if enclosure.duration else {})
            for enclosure in entry.enclosures
        ]
    item[SOURCE_EXTENSION] = _source(entry)
    return item


def _source(entry: PublishedEntry) -> dict[str, Any]:
    """Where the entry came from, like atom:source; local file paths stay private."""
    source: dict[str, Any] = {"about": SOURCE_EXTENSION_ABOUT, "title": entry.source.name}
    if feed_url := web_url(entry.source.url):
        source["feed_url"] = feed_url
    if home_page_url := web_url(entry.source.link):
        source["home_page_url"] = home_page_url
    if entry.related:
        # The same story at other sites: their links, and with their names.
        source["alternate_urls"] = [related.url for related in entry.related]
        source["related"] = [{"url": r.url, "title": r.title} for r in entry.related]
    return source


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
