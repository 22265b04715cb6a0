"""Turn a fetched document (bytes plus response headers) into a typed `FeedDocument`.

This is the only module that reads feedparser's result dictionaries: made by
`feedhub.parse.fastpath` (lxml, for the plain shapes of RSS and Atom) when it
reads the document, else by feedparser itself, the reference. Parsing runs with
feedparser's sanitizer and URI resolution off: `feedhub.parse.normalize`
sanitizes with nh3 and resolves links against each entry's base afterwards.
"""

from __future__ import annotations

import calendar
import functools
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from feedhub.core.errors import ParseError
from feedhub.core.models import Enclosure, FeedDocument, FeedEntry
from feedhub.core.text import error_line
from feedhub.parse import fastpath
from feedhub.parse.dates import parse_date
from feedhub.parse.docguard import (
    DEFAULT_LIMITS,
    DocumentLimits,
    HostileEntities,
    cap_fields,
    cap_text,
    defuse,
    limit_notes,
)
from feedhub.parse.encoding import to_utf8, utf8_content_type

log = logging.getLogger(__name__)


@functools.cache
def _feedparser() -> ModuleType:
    """feedparser, imported when a document needs it (the fast path reads most)."""
    import feedparser
    import feedparser.mixin

    # feedparser joins every element's xml:base onto the current base (two urljoins per
    # element, about a sixth of its time on ordinary feeds), though the pair of URLs rarely
    # changes within a document. Both functions are pure functions of their two strings.
    feedparser.mixin.make_safe_absolute_uri = functools.lru_cache(maxsize=1024)(
        feedparser.mixin.make_safe_absolute_uri
    )
    feedparser.mixin._urljoin = functools.lru_cache(maxsize=1024)(feedparser.mixin._urljoin)
    module: ModuleType = feedparser
    return module


_SY_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}


def parse_document(
    body: bytes,
    url: str,
    headers: Mapping[str, str],
    limits: DocumentLimits = DEFAULT_LIMITS,
    *,
    fast: bool = True,
) -> FeedDocument:
    """Parse `body` fetched from `url`; raise ParseError when it is no feed at all.

    The document is defused first and bounded by `limits` (see `feedhub.parse.docguard`).
    `fast=False` reads it with feedparser even where the fast path would.
    """
    content_type = headers.get("content-type")
    utf8 = to_utf8(body, content_type)
    try:
        defused = defuse(utf8, limits.max_entries)
    except HostileEntities as error:
        raise HostileEntities(f"{url}: {error}") from None
    feed: Mapping[str, Any]
    raw_entries: list[Any]
    problems: list[str] = []
    try:
        if not fast:
            raise fastpath.Declined("asked for feedparser")
        feed, raw_entries = fastpath.read(defused.body, url)
    except fastpath.Declined as declined:
        log.debug("%s: read by feedparser (%s)", url, declined)
        feed, raw_entries, problems = _feedparser_read(defused.body, url, content_type)
    stated = [_entry(raw, url) for raw in raw_entries[: limits.max_entries]]
    entries = tuple(cap_fields(entry, limits.max_field_bytes) for entry in stated)
    capped = sum(1 for before, after in zip(stated, entries, strict=True) if before is not after)
    problems += limit_notes(defused, len(raw_entries), capped, limits)
    return FeedDocument(
        title=_capped_text(feed.get("title"), limits),
        link=_capped_text(feed.get("link"), limits),
        entries=entries,
        ttl_minutes=_int(feed.get("ttl")),
        update_period_seconds=_update_period(feed),
        warning="; ".join(problems) or None,
    )


def _feedparser_read(
    body: bytes, url: str, content_type: str | None
) -> tuple[Mapping[str, Any], list[Any], list[str]]:
    """The feed, its entries and what is wrong with it, by feedparser (the reference)."""
    response_headers = {"content-location": url}
    if content_type:
        response_headers["content-type"] = utf8_content_type(content_type)
    try:
        parsed = _feedparser().parse(
            body,
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as error:
        # feedparser's loose parser can raise on hostile input (UnicodeEncodeError on
        # "&#xD800;", found by tests/test_fuzz.py): that is this document's problem only.
        raise ParseError(f"{url}: the feed parser failed on it ({type(error).__name__})") from None
    if not parsed.get("version") and not parsed.entries:
        raise ParseError(
            f"{url}: not an RSS or Atom feed ({_bozo_text(parsed) or 'no feed found'})"
        )
    problems = [f"feed not well formed: {_bozo_text(parsed)}"] if _is_harmful_bozo(parsed) else []
    return parsed.get("feed", {}), parsed.entries, problems


def _capped_text(value: object, limits: DocumentLimits) -> str | None:
    text = _text(value)
    return None if text is None else cap_text(text, limits.max_field_bytes)


def _entry(raw: Any, document_url: str) -> FeedEntry:
    title_detail = raw.get("title_detail") or {}
    summary_detail = raw.get("summary_detail") or {}
    content = _best_content(raw.get("content") or [])
    return FeedEntry(
        guid=_text(raw.get("id")),
        link=_text(raw.get("link")),
        title=_text(raw.get("title")),
        title_is_html=_is_html(title_detail),
        summary=_text(raw.get("summary")),
        summary_is_html=_is_html(summary_detail),
        content=_text(content.get("value")) if content else None,
        content_is_html=_is_html(content) if content else False,
        authors=_authors(raw),
        categories=tuple(
            term
            for tag in raw.get("tags") or []
            if (term := _text(tag.get("term") or tag.get("label")))
        ),
        published=_date(raw, "published"),
        updated=_date(raw, "updated"),
        enclosures=_enclosures(raw),
        base_url=_text((content or summary_detail or title_detail).get("base")) or document_url,
    )


def _best_content(contents: list[Any]) -> Any:
    """Prefer HTML content over plain text when a feed offers several."""
    for item in contents:
        if _is_html(item):
            return item
    return contents[0] if contents else None


def _is_html(detail: Mapping[str, Any]) -> bool:
    return str(detail.get("type", "text/html")) in ("text/html", "application/xhtml+xml")


def _authors(raw: Any) -> tuple[str, ...]:
    names = [_text(author.get("name")) for author in raw.get("authors") or []]
    if not any(names) and raw.get("author"):
        names = [_text(raw.get("author"))]
    return tuple(dict.fromkeys(name for name in names if name))


def _enclosures(raw: Any) -> tuple[Enclosure, ...]:
    found: list[Enclosure] = []
    for link in raw.get("links") or []:
        if link.get("rel") != "enclosure" or not _text(link.get("href")):
            continue
        found.append(
            Enclosure(
                url=str(link["href"]).strip(),
                length=_int(link.get("length")) or 0,
                # feedparser gives every Atom link without a type "text/html": no type.
                type="" if link.get("type") == "text/html" else _text(link.get("type")) or "",
            )
        )
    return tuple(dict.fromkeys(found))


def _date(raw: Any, name: str) -> datetime | None:
    """The entry's `name` date: read by `feedhub.parse.dates`, else as feedparser read it."""
    # feedparser's raw.get("updated") falls back to published: test for the key itself.
    if name not in raw:
        return None
    return parse_date(_text(raw[name]), fallback=_datetime(raw.get(f"{name}_parsed")))


def _datetime(value: time.struct_time | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _update_period(feed: Mapping[str, Any]) -> int | None:
    period = _SY_PERIOD_SECONDS.get(str(feed.get("sy_updateperiod", "")).strip().lower())
    if period is None:
        return None
    frequency = _int(feed.get("sy_updatefrequency")) or 1
    return max(1, period // max(1, frequency))


def _int(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _is_harmful_bozo(parsed: Any) -> bool:
    # Warnings that leave the parsed data intact; anything else is reported on the source.
    harmless = (_feedparser().CharacterEncodingOverride, _feedparser().NonXMLContentType)
    return bool(parsed.get("bozo")) and not isinstance(parsed.get("bozo_exception"), harmless)


def _bozo_text(parsed: Any) -> str | None:
    error = parsed.get("bozo_exception")
    if error is None:
        return None
    return error_line(error)
