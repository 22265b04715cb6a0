"""Publish the store as feeds: Atom 1.0 and RSS 2.0 per category and for all, written atomically.

Generation is deterministic: entries are appended in the order given (newest
first), every date comes from the data (a feed's `updated` is its newest
entry's), so unchanged data gives byte-identical files, and unchanged files are
not rewritten at all (their mtime, and so Last-Modified, stays).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feedgen.feed import FeedGenerator

from feedhub import __version__
from feedhub.config import Settings
from feedhub.models import PublishedEntry
from feedhub.routing import ALL
from feedhub.store import Store

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR_URI = "https://github.com/feedhub/feedhub"


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """One published feed: its slug, title and where it lives."""

    slug: str
    title: str
    base_url: str  # the hub's base URL, ending in "/"

    def url(self, filename: str) -> str:
        return f"{self.base_url}{self.slug}/{filename}"


def feeds_of(settings: Settings) -> list[FeedInfo]:
    base = settings.hub.base_url
    everything = FeedInfo(ALL, f"{settings.hub.title}: all entries", base)
    return [everything] + [
        FeedInfo(slug, category.title, base) for slug, category in settings.categories.items()
    ]


def publish(store: Store, settings: Settings, *, only: Iterable[str] | None = None) -> list[Path]:
    """Regenerate the feeds named in `only` (every feed when None); return files rewritten."""
    wanted = None if only is None else set(only)
    written: list[Path] = []
    for feed in feeds_of(settings):
        if wanted is not None and feed.slug not in wanted:
            continue
        published = store.latest_entries(feed.slug, settings.hub.max_entries)
        written += write_feed(settings.hub.output_dir, feed, published)
    store.mark_clean(wanted if wanted is not None else [f.slug for f in feeds_of(settings)])
    return written


def write_feed(output_dir: Path, feed: FeedInfo, published: Sequence[PublishedEntry]) -> list[Path]:
    documents = {
        "atom.xml": render_atom(feed, published),
        "rss.xml": render_rss(feed, published),
    }
    folder = output_dir / feed.slug
    return [
        path for name, body in documents.items() if write_atomically(path := folder / name, body)
    ]


def render_atom(feed: FeedInfo, published: Sequence[PublishedEntry]) -> bytes:
    generator = _generator(feed, published, self_name="atom.xml")
    return bytes(generator.atom_str(pretty=True))


def render_rss(feed: FeedInfo, published: Sequence[PublishedEntry]) -> bytes:
    generator = _generator(feed, published, self_name="rss.xml")
    return bytes(generator.rss_str(pretty=True))


def newest_update(published: Sequence[PublishedEntry]) -> datetime:
    return max((entry.updated for entry in published), default=EPOCH)


def _generator(
    feed: FeedInfo, published: Sequence[PublishedEntry], *, self_name: str
) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(feed.url(""))
    generator.title(feed.title)
    generator.subtitle(f"{feed.title}, gathered from its sources by feedhub")
    generator.author({"name": feed.title})
    # feedgen makes the last link added the RSS <channel><link>: self first, the site last.
    generator.link(href=feed.url(self_name), rel="self")
    generator.link(href=feed.base_url, rel="alternate")
    generator.language("en")
    generator.generator("feedhub", __version__, GENERATOR_URI)
    newest = newest_update(published)
    generator.updated(newest)
    generator.lastBuildDate(newest)
    for entry in published:
        _add_entry(generator, entry, feed.base_url)
    return generator


def _add_entry(generator: FeedGenerator, entry: PublishedEntry, feed_url: str) -> None:
    item = generator.add_entry(order="append")
    item.id(entry.uid)
    item.guid(entry.uid, permalink=False)
    item.title(entry.title)
    if entry.link:
        item.link(href=entry.link, rel="alternate")
    for alternate in entry.alternates:
        item.link(href=alternate, rel="related")
    for enclosure in entry.enclosures:
        item.link(
            href=enclosure.url, rel="enclosure", type=enclosure.type, length=str(enclosure.length)
        )
    item.updated(entry.updated)
    item.published(entry.published)
    for author in entry.authors:
        item.author({"name": author})
    for label in entry.labels:
        item.category(term=label)
    if entry.summary_html:
        item.summary(entry.summary_html, type="html")
    elif entry.content_html:
        item.description(entry.content_html)
    if entry.content_html:
        item.content(entry.content_html, type="html")
    elif not entry.link:
        # RFC 4287: an entry with no alternate link must carry content.
        if entry.summary_html:
            item.content(entry.summary_html, type="html")
        else:
            item.content(entry.title, type="text")
    item.source(title=entry.source.name, url=_public_source_url(entry, feed_url))


def _public_source_url(entry: PublishedEntry, fallback: str) -> str:
    """The source's feed URL, unless it is a local file the public has no business seeing."""
    if entry.source.url.startswith(("http://", "https://")):
        return entry.source.url
    return entry.source.link or fallback


def write_atomically(path: Path, body: bytes) -> bool:
    """Replace `path` with `body` by rename, so no reader sees half a file; False if unchanged."""
    try:
        if path.read_bytes() == body:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.debug("wrote %s (%d bytes)", path, len(body))
    return True
