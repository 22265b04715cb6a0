"""The store's tables, as SQLAlchemy Core metadata (the migrations create and upgrade them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from feedhub.core.clock import ensure_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        moment = ensure_utc(value)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else ensure_utc(value)


metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("name", String(500), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("health", String(16), nullable=False, default="new"),
    Column("site_link", String(2048)),
    Column("effective_url", String(2048)),
    Column("redirect_target", String(2048)),
    Column("permanent_redirects", Integer, nullable=False, default=0),
    Column("etag", String(1024)),
    Column("last_modified", String(256)),
    Column("body_hash", String(64)),
    Column("last_attempt", UTCDateTime),
    Column("last_success", UTCDateTime),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("public_error", Text),  # the class of last_error, fit to publish (0009_public_errors)
    Column("failures", Integer, nullable=False, default=0),
    Column("next_due", UTCDateTime),
    # How often the document itself says to poll (RSS <ttl>, sy:updatePeriod), in seconds.
    Column("feed_hint_seconds", Integer),
    # Which worker claimed the source for a poll, until when (see Store.claim_due_sources).
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Index("ix_sources_due", "active", "next_due"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(100), nullable=False, unique=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(2048), nullable=False),
    Column("canonical_link", String(2048)),
    Column("link", String(2048)),
    Column("title", Text, nullable=False),
    Column("summary_html", Text),
    Column("content_html", Text),
    Column("authors", Text, nullable=False, default="[]"),
    Column("labels", Text, nullable=False, default="[]"),
    Column("enclosures", Text, nullable=False, default="[]"),
    Column("published", UTCDateTime),
    Column("updated", UTCDateTime, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("sort_time", UTCDateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("duplicate_of", Integer, ForeignKey("entries.id", ondelete="SET NULL")),
    Column("image", String(2048)),  # its artwork (migration 0007_podcast)
    UniqueConstraint("source_id", "key", name="uq_entries_source_key"),
    Index("ix_entries_canonical_link", "canonical_link"),
    Index("ix_entries_duplicate_of", "duplicate_of"),
)

entry_categories = Table(
    "entry_categories",
    metadata,
    Column("category", String(100), primary_key=True),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("sort_time", UTCDateTime, nullable=False),
    Index("ix_entry_categories_recent", "category", "sort_time", "entry_id"),
    Index("ix_entry_categories_entry", "entry_id"),
)

categories = Table(
    "categories",
    metadata,
    Column("slug", String(100), primary_key=True),
    Column("dirty", Boolean, nullable=False, default=True),
)

# Every published document, so `feedhub serve` on any machine serves the current feeds.
documents = Table(
    "documents",
    metadata,
    Column("path", String(1024), primary_key=True),  # relative to the site root: "world/atom.xml"
    Column("body", LargeBinary, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("etag", String(100), nullable=False),  # strong and quoted, a hash of `body`
    Column("updated", UTCDateTime, nullable=False),  # when `body` last changed
)

# When a source started failing, recovered, moved or went away (the health feed).
health_events = Table(
    "health_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("source_name", String(500), nullable=False),
    Column("source_url", String(2048), nullable=False),  # as configured
    Column("change", String(16), nullable=False),  # failing, warning, recovered, moved, gone
    Column("message", Text, nullable=False),
    Index("ix_health_events_at", "at", "id"),
)

# --- entry identity and retention (migration 0003_identity) ---------------------------

# Other names (digests of keys and aliases, see feedhub.rules.dedupe) a source's entry goes by.
entry_aliases = Table(
    "entry_aliases",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(32), primary_key=True),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    Index("ix_entry_aliases_entry", "entry_id"),
)

# Names of pruned entries, so an entry that reappears upstream does not come back as new.
pruned_keys = Table(
    "pruned_keys",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(32), primary_key=True),
    Column("pruned_at", UTCDateTime, nullable=False),
    Index("ix_pruned_keys_pruned_at", "pruned_at"),
)

# How often an entry's content was rewritten in its current one-day window.
entry_revisions = Table(
    "entry_revisions",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("window_start", UTCDateTime, nullable=False),
    Column("rewrites", Integer, nullable=False),
)

# The ids of the entries each source's last parsed document listed (JSON): never pruned.
source_listings = Table(
    "source_listings",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("entry_ids", Text, nullable=False),
)

# Small named values: the routing config's digest, when entries were last pruned.
hub_state = Table(
    "hub_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# WebSub, feedhub as a hub: requests waiting for their intent verification.
websub_requests = Table(
    "websub_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("topic", String(1024), nullable=False),  # a site path, like "all/atom.xml"
    Column("callback", String(2048), nullable=False),
    Column("callback_host", String(255), nullable=False),
    Column("secret", String(200)),
    Column("lease_seconds", Integer, nullable=False),
    Column("received", UTCDateTime, nullable=False),
    Column("claim_until", UTCDateTime),  # a worker is verifying it until then
)

# WebSub, feedhub as a hub: verified subscribers, and whether they have a change to get.
websub_subscribers = Table(
    "websub_subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),  # a hash of topic and callback
    Column("topic", String(1024), nullable=False),
    Column("callback", String(2048), nullable=False),
    Column("callback_host", String(255), nullable=False),
    Column("secret", String(200)),
    Column("expires", UTCDateTime, nullable=False),
    Column("changed", Boolean, nullable=False, default=False),  # a delivery is owed
    Column("failures", Integer, nullable=False, default=0),
    Column("retry_at", UTCDateTime),
    Column("claim_until", UTCDateTime),  # a worker is delivering to it until then
    Index("ix_websub_subscribers_topic", "topic"),
    Index("ix_websub_subscribers_callback_host", "callback_host"),
)

# WebSub, feedhub as a subscriber: its subscription to each source's hub.
websub_sources = Table(
    "websub_sources",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("hub", String(2048), nullable=False),
    Column("topic", String(2048), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("secret", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("verified_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("retry_at", UTCDateTime),  # when the next request to the hub is due
    Column("failures", Integer, nullable=False, default=0),
    Column("claim_until", UTCDateTime),
)

# WebSub, feedhub as a subscriber: the last document a hub pushed, until a poll takes it.
websub_pushes = Table(
    "websub_pushes",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("received", UTCDateTime, nullable=False),
)

Index("ix_entries_source_first_seen", entries.c.source_id, entries.c.first_seen)

# --- near-duplicate stories (migration 0008_neardup) ----------------------------------

# Candidate keys (band hashes, see feedhub.rules.neardup) each entry is filed under;
# clustered by key on SQLite (migration 0010_neardup_clustered).
neardup_keys = Table(
    "neardup_keys",
    metadata,
    Column("band_key", BigInteger, primary_key=True),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_neardup_keys_entry", "entry_id"),
    sqlite_with_rowid=False,
)

# The categories each entry was routed to itself (its story's are in entry_categories):
# which copies a category may show.
entry_routes = Table(
    "entry_routes",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("category", String(100), primary_key=True),
)
