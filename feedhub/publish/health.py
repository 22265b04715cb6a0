"""The health feed, `<output_dir>/_health/atom.xml`: the hub's own news about its sources.

An entry each time a source starts failing, recovers, moves or is gone (decided
by `feedhub.rules.schedule`, kept in the store's `health_events`), rendered through
publish's feedgen path, so an operator follows the hub's health in a reader.
"""

from __future__ import annotations

import html
import uuid
from pathlib import Path

from feedhub.config.settings import Settings
from feedhub.core.errors import PublishError
from feedhub.core.models import HealthChange, HealthEvent, PublishedEntry, PublishedSource
from feedhub.core.text import strip_forbidden
from feedhub.publish.catalog import FeedInfo
from feedhub.publish.publisher import write_feed
from feedhub.store.facade import Store

HEALTH_SLUG = "_health"  # category slugs cannot start with "_", so this never collides
# Entry ids are minted from the event itself, so they stay the same when the feed is rewritten.
HEALTH_ID_NAMESPACE = uuid.UUID("0b7c3c1e-6f0a-4c55-9e8e-2f4f6b9d1a77")
_TITLES = {
    HealthChange.FAILING: "{} is failing",
    HealthChange.RECOVERED: "{} recovered",
    HealthChange.MOVED: "{} moved",
    HealthChange.GONE: "{} is gone",
}


def health_feed(settings: Settings) -> FeedInfo:
    return FeedInfo(HEALTH_SLUG, f"{settings.hub.title}: source health", settings.hub.base_url)


def health_feed_path(settings: Settings) -> Path:
    return settings.hub.output_dir / HEALTH_SLUG / "atom.xml"


def publish_health(store: Store, settings: Settings) -> list[Path]:
    """Rewrite the health feed from the newest events; return the files that changed."""
    events = store.recent_health_events(settings.hub.max_entries)
    entries = [_published(event) for event in events]
    failed: list[str] = []
    written = write_feed(settings.hub.output_dir, health_feed(settings), entries, store, failed)
    if failed:
        raise PublishError(failed)
    return written


def _published(event: HealthEvent) -> PublishedEntry:
    identity = "\n".join((event.source_url, event.change, event.at.isoformat(), event.message))
    message = strip_forbidden(event.message)
    return PublishedEntry(
        uid=f"urn:uuid:{uuid.uuid5(HEALTH_ID_NAMESPACE, identity)}",
        title=_TITLES[event.change].format(strip_forbidden(event.source_name)),
        link=None,
        summary_html=html.escape(message),
        content_html=None,
        authors=(),
        labels=(event.change.value,),
        enclosures=(),
        published=event.at,
        updated=event.at,
        source=PublishedSource(name=event.source_name, url=event.source_url, link=None),
    )
