"""The hub's front page (`index.html`): its feeds, their latest headlines, and the sources'
health (with a link to the health feed); and each feed's folder page (`news/index.html`).

Rendered with a Jinja2 template with autoescaping on, so every bit of text
that came from a feed (titles, source names, error messages) reaches the page
as text, never as markup; links are followed only when they are http(s). The
page is deterministic (no "now" in it), like the feeds: unchanged data gives
identical bytes, which `publish` then does not rewrite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from feedhub import __version__
from feedhub.config.settings import Settings
from feedhub.core.models import PublishedEntry, SourceHealth, SourceState
from feedhub.core.urls import web_url
from feedhub.publish.catalog import (
    ATOM,
    JSON_FEED,
    RSS,
    SOURCES_OPML,
    FeedInfo,
    feeds_of,
    newest_update,
)
from feedhub.rules.routing import ALL

if TYPE_CHECKING:
    from jinja2 import Environment

HEADLINES = 5
FEED_PAGE_HEADLINES = 20
# (file, MIME type, label) of each format a feed is published in, as the page links them.
FORMATS = (
    (ATOM, "application/atom+xml", "Atom"),
    (RSS, "application/rss+xml", "RSS"),
    (JSON_FEED, "application/feed+json", "JSON Feed"),
)


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """One feed as the front page shows it."""

    feed: FeedInfo
    heading: str
    entries: int  # articles stored in it, not only the published ones
    updated: datetime | None  # None while it has no entries
    headlines: tuple[PublishedEntry, ...]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One source in the front page's health table."""

    name: str
    link: str | None  # its web site, else its feed, when either is public
    health: str
    entries: int
    last_success: datetime | None  # only while failing or gone: it changes at every good poll
    problem: str | None  # the last error or warning
    pushed: bool = False  # its WebSub hub pushes new entries (polled at max_interval meanwhile)


def summarize_feed(feed: FeedInfo, published: Sequence[PublishedEntry], size: int) -> FeedSummary:
    return FeedSummary(
        feed=feed,
        heading="All entries" if feed.slug == ALL else feed.title,
        entries=size,
        updated=newest_update(published) if published else None,
        headlines=tuple(published[:HEADLINES]),
    )


def source_rows(
    settings: Settings,
    states: Sequence[SourceState],
    site_links: Mapping[str, str],
    pushing: Set[str] = frozenset(),
) -> list[SourceRow]:
    """The configured sources in config order, with the state the store holds for each."""
    by_url = {state.url: state for state in states}
    rows = []
    for source in settings.sources:
        state = by_url.get(source.url)
        rows.append(
            SourceRow(
                name=source.name,
                link=web_url(site_links.get(source.url)) or web_url(source.url),
                health=state.health.value if state else SourceHealth.NEW.value,
                entries=state.entries if state else 0,
                last_success=state.last_success if state and state.health.troubled else None,
                problem=_public_problem(state),
                pushed=source.url in pushing,
            )
        )
    return rows


def _public_problem(state: SourceState | None) -> str | None:
    """The class of the source's last problem; a problem stored before classes were kept
    is named by the source's health only, as its text may hold paths or addresses."""
    if state is None or state.last_error is None:
        return None
    return state.public_error or ("failing" if state.health.troubled else "warning")


def site_digest(
    settings: Settings, sources: Sequence[SourceRow], site_links: Mapping[str, str]
) -> str:
    """What the front page and sources.opml show besides the feeds' entries: the hub's and
    feeds' titles, the sources as configured, their health rows and web sites. Entries
    changing mark their feeds to republish, which rewrites the site anyway."""
    links = sorted(site_links.items())
    shown = (settings.hub, feeds_of(settings), settings.sources, sources, links)
    return hashlib.sha256(repr(shown).encode("utf-8")).hexdigest()


def render_feed_page(feed: FeedInfo, published: Sequence[PublishedEntry]) -> bytes:
    """A feed's folder page (`news/index.html`): its formats to subscribe to, its headlines."""
    template = _environment().get_template("feed.html")
    page = template.render(
        feed=feed,
        formats=FORMATS,
        headlines=published[:FEED_PAGE_HEADLINES],
        version=__version__,
    )
    return page.encode("utf-8")


def render_front_page(
    title: str, feeds: Sequence[FeedSummary], sources: Sequence[SourceRow], health: FeedInfo
) -> bytes:
    template = _environment().get_template("index.html")
    page = template.render(
        title=title,
        feeds=feeds,
        sources=sources,
        health=health,
        formats=FORMATS,
        opml=SOURCES_OPML,
        version=__version__,
        updated=max((f.updated for f in feeds if f.updated), default=None),
    )
    return page.encode("utf-8")


@cache
def _environment() -> Environment:
    # Imported here: jinja2 is needed only when the page is rendered, which a warm poll never does.
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(
        loader=PackageLoader("feedhub.publish", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["when"] = _when
    environment.filters["iso"] = _iso
    environment.filters["href"] = web_url
    return environment


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
