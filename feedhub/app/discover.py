"""Find the feeds a URL offers: the URL itself when it is a feed, else a web page's feeds.

A page's own feed links are read by `feedhub.parse.htmlpage`; when it declares
none, the usual feed paths of its site (/feed, /rss.xml, ...) are fetched and kept
when they parse as feeds. Only http(s) links are followed from a page, never local files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from feedhub.core.errors import ParseError, SourceError
from feedhub.core.models import FeedDocument, Fetched
from feedhub.fetch.client import Fetcher, FetchRequest
from feedhub.parse.htmlpage import is_html_page, page_feeds

log = logging.getLogger(__name__)

COMMON_PATHS = ("/feed", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/rss", "/feed.json")


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """A feed offered at or by a URL."""

    url: str
    title: str | None  # the feed's own title when fetched, else the link's title
    kind: str | None = None  # "RSS", "Atom", "JSON Feed" when the page declared it
    document: FeedDocument | None = None  # set when it was fetched and parsed as a feed


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a URL offers: itself as a feed, or the feeds of the page it is."""

    url: str
    feeds: tuple[FoundFeed, ...]
    page: bool  # the URL is a web page, not a feed
    problem: str | None = None  # why the URL itself is not a feed


class Discoverer:
    """Fetch URLs with the config's fetch settings and tell feeds from pages."""

    def __init__(
        self, fetcher: Fetcher, *, allow_private: bool, private_host: str | None = None
    ) -> None:
        self.fetcher = fetcher
        self.allow_private = allow_private
        self.private_host = private_host  # a host allowed on a private network anyway

    def discover(self, url: str) -> Discovery:
        """The feeds `url` offers; SourceError when it cannot be fetched."""
        fetched = self._fetch(url, allow_file=True)
        try:
            document = _parse(fetched)
        except ParseError as error:
            if not _is_html(fetched) or urlsplit(fetched.url).scheme not in ("http", "https"):
                return Discovery(url, (), page=False, problem=str(error))
            feeds = declared_feeds(fetched.body, fetched.url) or self._probe(fetched.url)
            return Discovery(url, tuple(feeds), page=True, problem=str(error))
        return Discovery(url, (FoundFeed(url, document.title, document=document),), page=False)

    def check(self, url: str) -> FeedDocument:
        """Fetch `url` and parse it; ParseError when it is not a feed."""
        fetched = self._fetch(url, allow_file=False)
        return _parse(fetched)

    def _probe(self, page_url: str) -> list[FoundFeed]:
        found: dict[str, FoundFeed] = {}
        for path in COMMON_PATHS:
            candidate = urljoin(page_url, path)
            if candidate in found:  # already reached by a redirect from an earlier path
                continue
            try:
                fetched = self._fetch(candidate, allow_file=False)
                document = _parse(fetched)
            except SourceError as error:
                log.debug("%s: no feed there (%s)", candidate, error)
                continue
            # /feed often redirects to /rss.xml: one feed, listed once.
            found.setdefault(fetched.url, FoundFeed(candidate, document.title, document=document))
        return list(found.values())

    def _fetch(self, url: str, *, allow_file: bool) -> Fetched:
        request = FetchRequest(
            url,
            allow_private=self.allow_private,
            private_host=self.private_host,
            allow_file=allow_file,
        )
        outcome = self.fetcher.fetch(request)
        assert isinstance(outcome, Fetched), "no validators were sent, so no 304"
        return outcome


def declared_feeds(html: bytes, page_url: str) -> list[FoundFeed]:
    """The feeds a page declares in `<link rel="alternate">`, hrefs made absolute."""
    return [FoundFeed(feed.url, feed.title, feed.kind) for feed in page_feeds(html, page_url)]


def _is_html(fetched: Fetched) -> bool:
    return is_html_page(fetched.body, fetched.headers.get("content-type"))


def _parse(fetched: Fetched) -> FeedDocument:
    # Imported here: the parsers load only when discovery fetches something.
    from feedhub.parse.document import parse_document

    return parse_document(fetched.body, fetched.url, fetched.headers)
