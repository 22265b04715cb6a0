"""Frozen value types that cross module borders, named by the direction they travel.

- `Fetched`, `NotModified`: what came back from the network (fetch -> pipeline).
- `FeedDocument`, `FeedEntry`: what came from a feed (parse -> normalize).
- `EntryToStore`: a normalized entry going into the store (normalize -> store), and
  `RoutedEntry`, one with the categories routing put it in (pipeline -> store).
- `SourceState`: a source's poll state coming from the store (store -> decide).
- `PollResult`: a source's poll state going to the store (decide -> store), with the
  `HealthEvent`s the poll caused (decide -> store -> the health feed).
- `PublishedEntry`, `PublishedSource`: what comes from the store for publishing.

All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media attachment (podcast episode, image, video)."""

    url: str
    length: int = 0
    type: str = "application/octet-stream"
    duration: int | None = None  # seconds of audio or video (itunes:duration), when stated


# --- from the network -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redirect:
    """One redirect hop seen while fetching."""

    status: int
    location: str


@dataclass(frozen=True, slots=True)
class Fetched:
    """A document body that came back from a source."""

    url: str  # the final URL, after redirects
    status: int  # 200 for files
    body: bytes
    headers: Mapping[str, str]  # lower-cased names
    etag: str | None = None
    last_modified: str | None = None
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True, slots=True)
class NotModified:
    """The source answered 304 Not Modified."""

    url: str
    headers: Mapping[str, str]
    etag: str | None = None
    last_modified: str | None = None
    redirects: tuple[Redirect, ...] = ()


FetchOutcome = Fetched | NotModified


# --- from the feed ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry as the feed stated it; text fields are as published (HTML may be escaped)."""

    guid: str | None
    link: str | None
    title: str | None
    title_is_html: bool
    summary: str | None
    summary_is_html: bool
    content: str | None
    content_is_html: bool
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    enclosures: tuple[Enclosure, ...]
    base_url: str  # what relative links in this entry resolve against
    image: str | None = None  # its artwork (itunes:image), else its podcast's cover
    summary_base_url: str | None = None  # the summary's own base, when it states one


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """A parsed feed document."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]
    ttl_minutes: int | None = None  # RSS <ttl>
    update_period_seconds: int | None = None  # sy:updatePeriod / sy:updateFrequency
    warning: str | None = None  # not well formed, or a limit reached (docguard), in a line
    hub: str | None = None  # the WebSub hub it advertises
    self_url: str | None = None  # its own URL, as it states it (WebSub's topic)
    malformed: bool = False  # not well formed: what was read may be incomplete
    public_warning: str | None = None  # the same without the parser's details, to publish


# --- to the store -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryToStore:
    """A normalized entry, ready to be stored for one source."""

    key: str  # identity within its source: guid, else link, else content hash
    canonical_link: str | None  # the link with tracking noise removed; cross-source identity
    link: str | None
    title: str  # plain text
    summary_html: str | None  # sanitized
    content_html: str | None  # sanitized
    authors: tuple[str, ...]
    labels: tuple[str, ...]  # the entry's own categories, original labels
    enclosures: tuple[Enclosure, ...]
    published: datetime | None  # as stated by the feed, if valid
    updated: datetime | None  # as stated by the feed, if valid
    content_hash: str  # what changes when the entry's meaning changes
    aliases: tuple[str, ...] = ()  # other keys under which this entry may have been stored
    image: str | None = None  # an absolute http(s) URL of its artwork
    # Where near-duplicates of it are looked for (`feedhub.rules.neardup.story_keys`):
    # sketched when it is normalized, in the parse workers, not by the storing thread.
    story_keys: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RoutedEntry:
    """A normalized entry with the categories it was routed into."""

    entry: EntryToStore
    categories: frozenset[str]


# --- sources: from and to the store -----------------------------------------


class SourceHealth(StrEnum):
    NEW = "new"
    OK = "ok"
    WARNING = "warning"  # read, but not well formed or past a limit: see last_error
    FAILING = "failing"
    GONE = "gone"

    @property
    def troubled(self) -> bool:
        """Failing or gone: counted as failing by a poll, shown with its last success."""
        return self in (SourceHealth.FAILING, SourceHealth.GONE)


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's poll state as the store holds it."""

    id: int
    url: str  # as configured
    effective_url: str | None  # where a permanent redirect moved it, if it did
    name: str
    health: SourceHealth
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    last_attempt: datetime | None
    last_success: datetime | None
    last_status: int | None
    last_error: str | None
    failures: int
    permanent_redirects: int  # consecutive polls that saw a 301/308 to `redirect_target`
    redirect_target: str | None
    next_due: datetime | None  # None: not scheduled (gone) until `feedhub sources retry`
    entries: int = 0
    feed_hint_seconds: int | None = None  # how often the document itself says to poll
    public_error: str | None = None  # the class of `last_error`, fit to publish

    @property
    def has_validators(self) -> bool:
        return bool(self.etag or self.last_modified)

    @property
    def fetch_url(self) -> str:
        return self.effective_url or self.url


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll changes in a source's state (decided by `feedhub.rules.schedule`)."""

    health: SourceHealth
    last_attempt: datetime
    next_due: datetime | None
    failures: int
    last_status: int | None
    last_error: str | None
    last_success: datetime | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    effective_url: str | None
    permanent_redirects: int
    redirect_target: str | None
    feed_hint_seconds: int | None = None
    events: tuple[HealthEvent, ...] = ()
    public_error: str | None = None  # what is published of `last_error`: its class only


class HealthChange(StrEnum):
    FAILING = "failing"  # started failing
    RECOVERED = "recovered"
    MOVED = "moved"  # a permanent redirect changed its effective URL
    GONE = "gone"  # 410 Gone: polling stopped
    WARNING = "warning"  # read, but the document was not well formed or hit a limit


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A change in a source's health worth telling the operator (the health feed)."""

    source_name: str
    source_url: str  # as configured
    change: HealthChange
    at: datetime
    message: str  # one line, published: names a failure's class, never its detail


# --- from the store, for publishing -----------------------------------------


@dataclass(frozen=True, slots=True)
class PublishedSource:
    """Where a published entry came from (atom:source, RSS <source>)."""

    name: str
    url: str  # the source's feed URL
    link: str | None  # the source's web site, if the feed named it


@dataclass(frozen=True, slots=True)
class RelatedLink:
    """The same story at another source: its link there, and that source's name."""

    url: str
    title: str


@dataclass(frozen=True, slots=True)
class PublishedEntry:
    """A stored entry, as a published feed shows it."""

    uid: str  # minted once when first stored; never changes
    title: str
    link: str | None
    summary_html: str | None
    content_html: str | None
    authors: tuple[str, ...]
    labels: tuple[str, ...]
    enclosures: tuple[Enclosure, ...]
    published: datetime
    updated: datetime
    source: PublishedSource
    related: tuple[RelatedLink, ...] = field(default=())  # the same story at other sources
    image: str | None = None  # its artwork (podcast episodes)
