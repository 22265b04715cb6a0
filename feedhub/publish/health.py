"""The health feed, `<output_dir>/_health/atom.xml`: the hub's own news about its sources.

An entry each time a source starts failing, recovers, moves, is gone or sends a
document with a problem (not well formed, past a limit) (decided
by `feedhub.rules.schedule`, kept in the store's `health_events`), rendered through
publish's feedgen path, so an operator follows the hub's health in a reader.
"""

from __future__ import annotations

import contextlib
import html
import uuid
from datetime import datetime
from pathlib import Path

from feedhub.config.settings import Settings
from feedhub.core.clock import ensure_utc
from feedhub.core.models import HealthChange, HealthEvent, PublishedEntry, PublishedSource
from feedhub.core.text import strip_forbidden
from feedhub.core.urls import redact_text
from feedhub.publish.catalog import HEALTH_SLUG, health_feed
from feedhub.publish.publisher import write_feed
from feedhub.store.facade import Store

FIRST_PUBLISHED = "health_first_published"  # in hub_state
# Entry ids are minted from the event itself, so they stay the same when the feed is rewritten.
HEALTH_ID_NAMESPACE = uuid.UUID("0b7c3c1e-6f0a-4c55-9e8e-2f4f6b9d1a77")
_TITLES = {
    HealthChange.FAILING: "{} is failing",
    HealthChange.RECOVERED: "{} recovered",
    HealthChange.MOVED: "{} moved",
    HealthChange.GONE: "{} is gone",
    HealthChange.WARNING: "{} has a problem in its feed",
}


def health_feed_path(settings: Settings) -> Path:
    return settings.hub.output_dir / HEALTH_SLUG / "atom.xml"


def publish_health(store: Store, settings: Settings, now: datetime) -> list[Path]:
    """Rewrite the health feed from the newest events; return the files that changed.

    Without events it says it was updated when the hub first published it, not 1970."""
    events = store.recent_health_events(settings.hub.max_entries)
    entries = [_published(event) for event in events]
    feed = health_feed(settings, quiet_since=_first_published(store, now))
    with store.publication(write=True) as keeper:
        return write_feed(settings.hub.output_dir, feed, entries, keeper)


def _first_published(store: Store, now: datetime) -> datetime:
    stored = store.hub_state(FIRST_PUBLISHED)
    if stored is not None:
        with contextlib.suppress(ValueError):
            return ensure_utc(datetime.fromisoformat(stored))
    first = now.replace(microsecond=0)
    store.set_hub_state(FIRST_PUBLISHED, first.isoformat())
    return first


def _published(event: HealthEvent) -> PublishedEntry:
    identity = "\n".join((event.source_url, event.change, event.at.isoformat(), event.message))
    message = strip_forbidden(redact_text(event.message))
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
