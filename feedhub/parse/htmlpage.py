"""Tell a web page from a feed, and read the feeds a page links to.

A page declares its feeds with `<link rel="alternate" type="application/rss+xml">`
(or Atom, or JSON Feed) in its head. Discovery (`feedhub.app.discover`) offers them
to `sources add`; a source that turns out to be a page names them in its error.
Only http(s) links count, never local files.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from feedhub.core.text import one_line, strip_forbidden

FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
}
HTML_TYPES = ("text/html", "application/xhtml+xml")
_NAMED_IN_AN_ERROR = 3


@dataclass(frozen=True, slots=True)
class PageFeed:
    """A feed a page links to."""

    url: str
    title: str | None  # the link's title attribute
    kind: str  # "RSS", "Atom", "JSON Feed"


def is_html_page(body: bytes, content_type: str | None) -> bool:
    """Whether a body is a web page: by its stated type, else by how it starts."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type:
        return media_type in HTML_TYPES
    start = body[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def page_feeds(html: bytes, page_url: str) -> list[PageFeed]:
    """The feeds a page declares in `<link rel="alternate">`, hrefs made absolute."""
    # Imported here: only `sources add`, discovery and a page given as a source read pages.
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):  # empty or not HTML at all
        return []
    base = page_url
    for element in root.iter("base"):
        if href := (element.get("href") or "").strip():
            base = urljoin(page_url, href)
            break
    found: dict[str, PageFeed] = {}
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        media_type = (link.get("type") or "").split(";")[0].strip().lower()
        href = strip_forbidden(link.get("href") or "").strip()
        if "alternate" not in rel or media_type not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme in ("http", "https"):
            title = one_line(link.get("title") or "") or None  # the page's words
            found.setdefault(url, PageFeed(url, title, FEED_TYPES[media_type]))
    return list(found.values())


def page_problem(html: bytes, page_url: str) -> str:
    """Why a page is no source, naming the feeds it links to: one line."""
    feeds = page_feeds(html, page_url)
    if not feeds:
        return (
            "this is a web page (HTML), not a feed, and it links to no feed; "
            f"`feedhub sources add {page_url}` looks for the site's feed"
        )
    named = ", ".join(f"{feed.url} ({feed.kind})" for feed in feeds[:_NAMED_IN_AN_ERROR])
    more = len(feeds) - _NAMED_IN_AN_ERROR
    others = f" and {more} more" if more > 0 else ""
    return (
        f"this is a web page (HTML), not a feed; it links to {named}{others}: "
        "use one of those as the source's url"
    )
