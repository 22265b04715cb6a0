"""Normalize a `FeedEntry` as published into an `EntryToStore`: pure functions, no I/O.

Titles become plain text; content and summaries become sanitized HTML (nh3,
an allow-list) with absolute links; characters XML forbids are removed; links
lose tracking noise; dates stay as the feed stated them (UTC) when valid. The
entry's key (its identity within the source) and content hash (what changes
when its meaning changes) are computed here.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

from feedhub.models import Enclosure, EntryToStore, FeedEntry

# XML 1.0 forbids these; lxml (and so feedgen) refuses them.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi)$", re.IGNORECASE
)
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster"})
_UNTITLED = "(untitled)"
_TITLE_FROM_TEXT = 80

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "acronym",
        "b",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "picture",
        "pre",
        "q",
        "s",
        "samp",
        "small",
        "source",
        "span",
        "strike",
        "strong",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "time",
        "tr",
        "u",
        "ul",
        "var",
        "audio",
        "video",
    }
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height", "srcset"},
    "source": {"src", "srcset", "type", "media"},
    "audio": {"src", "controls"},
    "video": {"src", "controls", "poster", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def strip_forbidden(text: str) -> str:
    return _XML_FORBIDDEN.sub("", text)


def plain_text(value: str | None, *, is_html: bool) -> str:
    """Text for a title: tags removed, entities decoded once, whitespace collapsed."""
    if not value:
        return ""
    text = html.unescape(nh3.clean(value, tags=set())) if is_html else value
    return _WHITESPACE.sub(" ", strip_forbidden(text)).strip()


def sanitize_html(value: str | None, *, is_html: bool, base_url: str) -> str | None:
    """Allow-listed HTML with absolute links; plain text is escaped into HTML."""
    if not value or not value.strip():
        return None
    source = strip_forbidden(value) if is_html else html.escape(strip_forbidden(value))

    def absolute(tag: str, attribute: str, url: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return url
        return urljoin(base_url, url.strip())

    cleaned = nh3.clean(
        source,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        attribute_filter=absolute,
        link_rel="noopener noreferrer",
    ).strip()
    return cleaned or None


def clean_link(url: str | None, base_url: str) -> str | None:
    """An absolute http(s) link without tracking parameters or fragment noise."""
    if not url:
        return None
    absolute = urljoin(base_url, strip_forbidden(url).strip())
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if not _TRACKING_PARAMS.match(key)]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


def canonical_link(link: str | None) -> str | None:
    """The identity of an article's URL: scheme, `www.`, trailing slash and order ignored."""
    if not link:
        return None
    parts = urlsplit(link)
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit(("", host, path, query, ""))[2:]


def entry_key(guid: str | None, link: str | None, title: str, body: str) -> str:
    """Identity within a source: the guid, else the link, else a hash of title and body."""
    if guid and (cleaned := strip_forbidden(guid).strip()):
        return cleaned
    if link:
        return link
    return "sha256:" + hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()


def content_hash(
    title: str,
    link: str | None,
    summary: str | None,
    content: str | None,
    enclosures: tuple[Enclosure, ...],
    labels: tuple[str, ...],
) -> str:
    """A hash of what a reader sees, insensitive to whitespace and link tracking noise."""
    material = [
        title,
        canonical_link(link),
        _WHITESPACE.sub(" ", summary or "").strip(),
        _WHITESPACE.sub(" ", content or "").strip(),
        [(e.url, e.type, e.length) for e in enclosures],
        sorted(labels),
    ]
    return hashlib.sha256(json.dumps(material, ensure_ascii=False).encode()).hexdigest()


def normalize_entry(entry: FeedEntry) -> EntryToStore:
    title = plain_text(entry.title, is_html=entry.title_is_html)
    summary = sanitize_html(entry.summary, is_html=entry.summary_is_html, base_url=entry.base_url)
    content = sanitize_html(entry.content, is_html=entry.content_is_html, base_url=entry.base_url)
    if content == summary:
        summary = None
    link = clean_link(entry.link, entry.base_url)
    if not title:
        title = _title_from(content or summary) or _UNTITLED
    enclosures = tuple(_enclosure(e, entry.base_url) for e in entry.enclosures if e.url)
    labels = tuple(
        dict.fromkeys(label for raw in entry.categories if (label := plain_text(raw, is_html=True)))
    )
    return EntryToStore(
        key=entry_key(entry.guid, link, title, content or summary or ""),
        canonical_link=canonical_link(link),
        link=link,
        title=title,
        summary_html=summary,
        content_html=content,
        authors=tuple(plain_text(a, is_html=True) for a in entry.authors if a.strip()),
        labels=labels,
        enclosures=enclosures,
        published=entry.published,
        updated=entry.updated,
        content_hash=content_hash(title, link, summary, content, enclosures, labels),
    )


def _title_from(body: str | None) -> str:
    text = plain_text(body, is_html=True)
    if len(text) <= _TITLE_FROM_TEXT:
        return text
    return text[:_TITLE_FROM_TEXT].rsplit(" ", 1)[0] + "…"


def _enclosure(enclosure: Enclosure, base_url: str) -> Enclosure:
    return Enclosure(
        url=urljoin(base_url, enclosure.url),
        length=max(0, enclosure.length),
        type=enclosure.type or "application/octet-stream",
    )
