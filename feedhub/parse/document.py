"""Turn a fetched document (bytes plus response headers) into a typed `FeedDocument`.

JSON Feeds go to `feedhub.parse.jsonfeed_source`; a web page given as a feed gets an
error naming the feeds it links to (`feedhub.parse.htmlpage`).

This is the only module that reads feedparser's result dictionaries: made by
`feedhub.parse.fastpath` (lxml, for the plain shapes of RSS and Atom) when it reads
the document, else by feedparser itself, the reference, imported only then. Parsing
runs with feedparser's sanitizer and URI resolution off: `feedhub.parse.normalize`
sanitizes with nh3 and resolves links against each entry's base afterwards.
"""

from __future__ import annotations

import calendar
import functools
import logging
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from feedhub.core.errors import PARSER_FAILED, ParseError
from feedhub.core.models import Enclosure, FeedDocument, FeedEntry
from feedhub.core.text import error_line, strip_forbidden
from feedhub.core.urls import redact_url
from feedhub.parse import fastpath
from feedhub.parse.dates import parse_date
from feedhub.parse.discovery import advertised
from feedhub.parse.docguard import (
    DEFAULT_LIMITS,
    DocumentLimits,
    HostileEntities,
    cap_fields,
    cap_text,
    defuse,
    last_entry_cut_off,
    limit_notes,
)
from feedhub.parse.encoding import to_utf8, utf8_content_type
from feedhub.parse.htmlpage import is_html_page, page_problem
from feedhub.parse.jsonfeed_source import looks_like_json, parse_json_feed

log = logging.getLogger(__name__)


@functools.cache
def _feedparser() -> ModuleType:
    """feedparser, imported when a document needs it (the fast path reads most without)."""
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


_REFERENCE = re.compile(rb"&#([0-9]{1,12}|[xX][0-9a-fA-F]{1,12});")
_SY_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}


class _Read(NamedTuple):
    """A document as read: the feed's and its entries' dictionaries (feedparser's keys)."""

    feed: Mapping[str, Any]
    entries: Sequence[Any]
    malformed: str | None  # what is wrong with it, when it is not well formed


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
    `fast=False` reads it with feedparser even where `feedhub.parse.fastpath` would: the
    reference the fast path is tested and measured against.
    """
    content_type = headers.get("content-type")
    if looks_like_json(body, content_type):
        return parse_json_feed(body, url, limits)
    utf8 = to_utf8(body, content_type)
    try:
        defused = defuse(utf8, limits.max_entries)
    except HostileEntities as error:
        raise HostileEntities(f"{url}: {error}") from None
    # Relative links resolve against the URL without its userinfo and secrets (both
    # readers resolve links themselves, and they are published); a local file's URL is
    # no base for anything published (it names a path here).
    document_base = redact_url(url) if urlsplit(url).scheme in ("http", "https") else ""
    xml = _without_forbidden_references(defused.body)
    read = _read_fast(xml, url, document_base) if fast else None
    if read is None:
        read = _read_by_feedparser(xml, url, document_base, content_type, utf8)
    feed = read.feed
    site = _text(feed.get("link")) or ""
    base = document_base or (site if urlsplit(site).scheme in ("http", "https") else "")
    cover = _text((feed.get("image") or {}).get("href"))
    stated = [_entry(raw, base, cover) for raw in read.entries[: limits.max_entries]]
    harmful = read.malformed is not None
    problems = [f"feed not well formed: {read.malformed}"] if harmful else []
    public = ["feed not well formed"] if harmful else []
    if harmful and stated and last_entry_cut_off(defused.body):
        # Half an entry: published now, it would be replaced once the feed is whole again.
        stated.pop()
        cut_off = "the document ends inside an entry, which was left out"
        problems.append(cut_off)
        public.append(cut_off)
    entries = tuple(cap_fields(entry, limits.max_field_bytes) for entry in stated)
    capped = sum(1 for before, after in zip(stated, entries, strict=True) if before != after)
    notes = limit_notes(defused, len(read.entries), capped, limits)
    hub, self_url = advertised(headers, feed.get("links") or [], url)
    return FeedDocument(
        title=_capped_text(feed.get("title"), limits),
        link=_capped_text(feed.get("link"), limits),
        entries=entries,
        ttl_minutes=_int(feed.get("ttl")),
        update_period_seconds=_update_period(feed),
        warning="; ".join(problems + notes) or None,
        public_warning="; ".join(public + notes) or None,
        hub=hub,
        self_url=self_url,
        malformed=harmful,
    )


def _read_fast(xml: bytes, url: str, document_base: str) -> _Read | None:
    """The document as `feedhub.parse.fastpath` reads it; None when it declines it."""
    try:
        feed, entries = fastpath.read(xml, document_base)
    except fastpath.Declined as declined:
        log.debug("%s: read by feedparser (%s)", redact_url(url), declined)
        return None
    return _Read(feed, entries, None)


def _read_by_feedparser(
    xml: bytes, url: str, document_base: str, content_type: str | None, utf8: bytes
) -> _Read:
    """The document as feedparser reads it; raise ParseError when it is no feed at all."""
    # Always said to be UTF-8, as `to_utf8` made it: with a location but no content type
    # feedparser reads a document without an XML declaration as ISO-8859-1.
    response_headers = {"content-type": utf8_content_type(content_type)}
    if document_base:
        response_headers["content-location"] = document_base
    try:
        parsed = _feedparser().parse(
            xml,
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as error:
        # feedparser's loose parser can raise on hostile input (UnicodeEncodeError on
        # "&#xD800;", found by tests/test_fuzz.py): that is this document's problem only.
        raise ParseError(
            f"{url}: the feed parser failed on it ({type(error).__name__})", PARSER_FAILED
        ) from None
    if not parsed.get("version") and not parsed.entries:
        if is_html_page(utf8, content_type):
            raise ParseError(f"{url}: {page_problem(utf8, url)}")
        raise ParseError(
            f"{url}: not an RSS, Atom or JSON feed ({_bozo_text(parsed) or 'no feed found'})"
        )
    malformed = _bozo_text(parsed) if _is_harmful_bozo(parsed) else None
    return _Read(parsed.get("feed", {}), parsed.entries, malformed)


def _without_forbidden_references(body: bytes) -> bytes:
    """`body` without character references to what XML forbids (`&#1;`, `&#xD800;`).

    Such a reference makes a document not well formed, and feedparser's loose parser
    then either turns it into the character or fails on the whole document: with it
    gone, the rest of the document reads as its publisher meant it.
    """
    if b"&#" not in body:
        return body
    return _REFERENCE.sub(_allowed_reference, body)


def _allowed_reference(found: re.Match[bytes]) -> bytes:
    digits = found.group(1)
    try:
        code = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
        allowed = strip_forbidden(chr(code)) != ""
    except (ValueError, OverflowError):
        allowed = False
    return found.group(0) if allowed else b""


def _capped_text(value: object, limits: DocumentLimits) -> str | None:
    text = _text(value)
    return None if text is None else cap_text(text, limits.max_field_bytes)


def _entry(raw: Any, document_base: str, cover: str | None) -> FeedEntry:
    title_detail = raw.get("title_detail") or {}
    summary_detail = raw.get("summary_detail") or {}
    content = _best_content(raw.get("content") or [])
    enclosures = _enclosures(raw, duration_seconds(_text(raw.get("itunes_duration"))))
    # An episode without its own artwork shows its podcast's cover, as podcast apps do.
    image = _text((raw.get("image") or {}).get("href")) or (cover if enclosures else None)
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
        enclosures=enclosures,
        base_url=_base(content or summary_detail or title_detail) or document_base,
        summary_base_url=_base(summary_detail),
        image=image,
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


def _enclosures(raw: Any, duration: int | None) -> tuple[Enclosure, ...]:
    """The entry's enclosures; the first one lasts `duration` (itunes:duration is the item's)."""
    found: list[Enclosure] = []
    for link in raw.get("links") or []:
        if link.get("rel") != "enclosure" or not _text(link.get("href")):
            continue
        found.append(
            Enclosure(
                url=_text(link["href"]) or "",
                length=_int(link.get("length")) or 0,
                # feedparser gives every Atom link without a type "text/html": no type.
                type="" if link.get("type") == "text/html" else _text(link.get("type")) or "",
                duration=None if found else duration,
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


def duration_seconds(text: str | None) -> int | None:
    """An itunes:duration ("1:02:03", "62:03", "3723", "3723.5") in whole seconds."""
    parts = (text or "").split(":")
    if not text or len(parts) > 3:
        return None
    try:
        seconds = sum(float(part) * 60**power for power, part in enumerate(reversed(parts)))
    except ValueError:
        return None
    return int(seconds) if 0 < seconds < 1e9 else None


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


def _base(detail: Mapping[str, Any]) -> str | None:
    """What relative URLs in one element resolve against, when the document says."""
    return _text(detail.get("base"))


def _text(value: object) -> str | None:
    """A value of feedparser's as text, XML-safe: the border every document crosses.

    feedparser's loose parser turns references like `&#1;` into the characters XML
    forbids, in any field; they are dropped here, before anything is stored.
    """
    if value is None:
        return None
    text = strip_forbidden(str(value)).strip()
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
