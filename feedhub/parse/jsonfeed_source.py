"""Read a JSON Feed (1.0 or 1.1, https://jsonfeed.org/version/1.1) source into the same
typed `FeedDocument` and `FeedEntry` values as RSS and Atom (`feedhub.parse.document`).

Items, their authors (1.1's `authors` and 1.0's `author`, else the feed's), tags,
attachments and dates are read; `_` extensions and what feedhub does not publish
(languages) are ignored. The document is bounded like an XML one: the body's
size by the fetcher, nesting by the JSON decoder's recursion limit, entries by
`max_entries_per_document` and each field by `max_field_bytes`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from feedhub.core.errors import ParseError
from feedhub.core.models import Enclosure, FeedDocument, FeedEntry
from feedhub.parse.dates import parse_date
from feedhub.parse.docguard import MAX_LIST_ITEMS, Defused, DocumentLimits, cap_fields, limit_notes

JSON_FEED_TYPES = ("application/feed+json", "application/json")
_BOM = b"\xef\xbb\xbf"


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    """A JSON body: starting with "{" (no XML document can), or served as JSON and not
    starting with "<" (servers label feeds wrongly; the first character does not lie)."""
    first = body.removeprefix(_BOM).lstrip()[:1]
    media_type = (content_type or "").split(";")[0].strip().lower()
    return first == b"{" or (media_type in JSON_FEED_TYPES and first != b"<")


def parse_json_feed(body: bytes, url: str, limits: DocumentLimits) -> FeedDocument:
    """`body` fetched from `url` as a JSON Feed; ParseError when it is not one."""
    try:
        feed = json.loads(body.removeprefix(_BOM).decode("utf-8", errors="replace"))
    except RecursionError:
        raise ParseError(f"{url}: a JSON document nested too deeply to be a feed") from None
    except ValueError as error:
        raise ParseError(f"{url}: not a JSON Feed (invalid JSON: {error})") from None
    if not isinstance(feed, dict) or not isinstance(feed.get("items"), list):
        raise ParseError(
            f"{url}: JSON, but not a JSON Feed (no list of items); "
            "give the URL of the site's RSS, Atom or JSON Feed"
        )
    items = [item for item in feed["items"] if isinstance(item, dict)]
    feed_authors = _authors(feed)
    stated = [_entry(item, url, feed_authors) for item in items[: limits.max_entries]]
    entries = tuple(cap_fields(entry, limits.max_field_bytes) for entry in stated)
    capped = sum(1 for before, after in zip(stated, entries, strict=True) if before != after)
    notes = limit_notes(Defused(body, len(items)), len(items), capped, limits)
    return FeedDocument(
        title=cap_fields(_text(feed.get("title")), limits.max_field_bytes),
        link=cap_fields(_text(feed.get("home_page_url")), limits.max_field_bytes),
        entries=entries,
        warning="; ".join(notes) or None,
    )


def _entry(item: Mapping[str, Any], document_url: str, feed_authors: tuple[str, ...]) -> FeedEntry:
    html = _text(item.get("content_html"))
    return FeedEntry(
        guid=_identifier(item.get("id")),
        link=_text(item.get("url")) or _text(item.get("external_url")),
        title=_text(item.get("title")),
        title_is_html=False,
        summary=_text(item.get("summary")),
        summary_is_html=False,
        content=html or _text(item.get("content_text")),
        content_is_html=html is not None,
        authors=_authors(item) or feed_authors,
        categories=tuple(
            tag for value in _list(item.get("tags")) if (tag := _text(value)) is not None
        ),
        published=parse_date(_text(item.get("date_published"))),
        updated=parse_date(_text(item.get("date_modified"))),
        enclosures=tuple(
            Enclosure(
                url=link,
                length=_size(attachment),
                type=_text(attachment.get("mime_type")) or "",
                duration=_seconds(attachment.get("duration_in_seconds")),
            )
            for attachment in _list(item.get("attachments"))
            if isinstance(attachment, dict) and (link := _text(attachment.get("url")))
        ),
        base_url=document_url,
        image=_text(item.get("image")) or _text(item.get("banner_image")),
    )


def _authors(owner: Mapping[str, Any]) -> tuple[str, ...]:
    """1.1's `authors` list, else 1.0's single `author`: their names (else their URLs)."""
    authors = _list(owner.get("authors")) or [owner.get("author")]
    names = (
        _text(author.get("name")) or _text(author.get("url"))
        for author in authors
        if isinstance(author, dict)
    )
    return tuple(dict.fromkeys(name for name in names if name))


def _list(value: object) -> list[Any]:
    return value[:MAX_LIST_ITEMS] if isinstance(value, list) else []


def _identifier(value: object) -> str | None:
    """An item's id: a string, though some feeds write a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _seconds(value: object) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
        return int(value)
    return None


def _size(attachment: Mapping[str, Any]) -> int:
    size = attachment.get("size_in_bytes")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None
