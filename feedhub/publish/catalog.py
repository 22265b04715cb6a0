"""The hub's published site: which feeds and documents it holds, and the URLs they live at.

Shared by the renderers (feedgen Atom/RSS, JSON Feed, OPML, the front page) and
by `publish`, which writes them; nothing here touches the store or the disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedhub import __version__
from feedhub.config.settings import Settings
from feedhub.core.models import PublishedEntry
from feedhub.core.websub import HUB_PATH
from feedhub.rules.routing import ALL

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The documents published for every feed, and the ones published once for the site.
ATOM, RSS, JSON_FEED = "atom.xml", "rss.xml", "feed.json"
FEED_FILES = (ATOM, RSS, JSON_FEED)
FRONT_PAGE, SOURCES_OPML = "index.html", "sources.opml"
SITE_FILES = (FRONT_PAGE, SOURCES_OPML)
FEED_PAGE = "index.html"  # each feed's folder page, linking its formats
HEALTH_SLUG = "_health"  # category slugs cannot start with "_", so this never collides


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """One published feed: its slug, title and where it lives."""

    slug: str
    title: str
    base_url: str  # the hub's base URL, ending in "/"
    max_per_source: int | None = None  # the most entries of one source the feed shows
    hub: str | None = None  # the WebSub hub its readers may subscribe at
    quiet_since: datetime | None = None  # the updated time it states while it has no entries

    def url(self, filename: str) -> str:
        return f"{self.base_url}{self.slug}/{filename}"


def feeds_of(settings: Settings) -> list[FeedInfo]:
    """Every published feed: all entries first, then the categories in config order."""
    base, hub = settings.hub.base_url, hub_url(settings)
    everything = FeedInfo(ALL, f"{settings.hub.title}: all entries", base, hub=hub)
    return [everything] + [
        FeedInfo(slug, category.title, base, category.max_per_source, hub)
        for slug, category in settings.categories.items()
    ]


def hub_url(settings: Settings) -> str | None:
    """The WebSub hub the feeds advertise: the external one configured, else feedhub's own
    endpoint; None when WebSub is off."""
    if not settings.websub.enabled:
        return None
    return settings.websub.hub or settings.hub.base_url + HUB_PATH


def health_feed(settings: Settings, quiet_since: datetime | None = None) -> FeedInfo:
    """The hub's own feed of its sources' health (see `feedhub.publish.health`)."""
    title = f"{settings.hub.title}: source health"
    return FeedInfo(HEALTH_SLUG, title, settings.hub.base_url, quiet_since=quiet_since)


def feeds_digest(settings: Settings) -> str:
    """What every feed document is written from besides its entries: the feeds' titles and
    URLs, how many entries they show, and feedhub's version (it names itself in them)."""
    shown = (__version__, feeds_of(settings), settings.hub.max_entries)
    return hashlib.sha256(repr(shown).encode("utf-8")).hexdigest()


def newest_update(published: Sequence[PublishedEntry], empty: datetime | None = None) -> datetime:
    """When a feed last changed: its newest entry's update time (when empty, `empty`, else
    the epoch)."""
    return max((entry.updated for entry in published), default=empty or EPOCH)
