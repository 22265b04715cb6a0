"""Publish the store: Atom, RSS and JSON Feed per category and for all, the front page and
sources.opml, each written atomically.

Generation is deterministic: entries are appended in the order given (newest
first), every date comes from the data (a feed's `updated` is its newest
entry's), so unchanged data gives byte-identical files, and unchanged files are
not rewritten at all (their mtime, and so Last-Modified, stays).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from feedhub import __version__
from feedhub.config.settings import Settings
from feedhub.core.files import write_atomically
from feedhub.core.models import PublishedEntry
from feedhub.core.site import content_type_of, strong_etag
from feedhub.publish.catalog import (
    ATOM,
    FRONT_PAGE,
    JSON_FEED,
    RSS,
    SOURCES_OPML,
    FeedInfo,
    feeds_digest,
    feeds_of,
    newest_update,
    public_url,
)
from feedhub.publish.frontpage import render_front_page, site_digest, source_rows, summarize_feed
from feedhub.publish.jsonfeed import render_json_feed
from feedhub.publish.opml import render_opml
from feedhub.store.facade import Store

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

log = logging.getLogger(__name__)

GENERATOR_URI = "https://github.com/feedhub/feedhub"
SITE_DIGEST = "site_digest"  # in hub_state: what the site was last written from
FEEDS_DIGEST = "feeds_digest"  # in hub_state: what all the feeds were last written from
_ATOM_ENTRY = "{http://www.w3.org/2005/Atom}entry"
_ATOM_LINK = "{http://www.w3.org/2005/Atom}link"


def publish(
    store: Store,
    settings: Settings,
    *,
    only: Iterable[str] | None = None,
    forced: Iterable[str] = (),
) -> list[Path]:
    """Regenerate the feeds named in `only` (every feed when None) and the site's own
    documents (the front page shows every feed); return the files rewritten.

    Each feed is regenerated under its lock (`Store.publishing`), so workers sharing a
    store never regenerate one feed at once: a feed of `only` that another worker is
    regenerating, or that is clean again, is left alone. Every feed when `only` is None,
    and those in `forced` (missing here), are regenerated whatever their state.
    """
    wanted = None if only is None else set(only)
    always = set(forced)
    written: list[Path] = []
    latest: dict[str, list[PublishedEntry]] = {}
    for feed in feeds_of(settings):
        if wanted is None or feed.slug in wanted:
            forcing = wanted is None or feed.slug in always
            with store.publishing(feed.slug, always=forcing) as publication:
                if publication is not None:
                    latest[feed.slug] = publication.latest_entries(
                        feed.slug, settings.hub.max_entries, feed.max_per_source
                    )
                    written += write_feed(
                        settings.hub.output_dir, feed, latest[feed.slug], publication
                    )
        if feed.slug not in latest:
            latest[feed.slug] = store.latest_entries(
                feed.slug, settings.hub.max_entries, feed.max_per_source
            )
    written += write_site(store, settings, latest)
    if wanted is None:
        store.set_hub_state(FEEDS_DIGEST, feeds_digest(settings))
    return written


def feeds_are_current(store: Store, settings: Settings) -> bool:
    """Whether the feeds were last all written with the titles, URLs and sizes the config
    now gives them (see `feedhub.publish.catalog.feeds_digest`)."""
    return store.hub_state(FEEDS_DIGEST) == feeds_digest(settings)


def write_feed(
    output_dir: Path,
    feed: FeedInfo,
    published: Sequence[PublishedEntry],
    keeper: DocumentKeeper,
) -> list[Path]:
    documents = {
        ATOM: render_atom(feed, published),
        RSS: render_rss(feed, published),
        JSON_FEED: render_json_feed(feed, published),
    }
    return _write_all(output_dir, f"{feed.slug}/", documents, keeper)


def write_site(
    store: Store, settings: Settings, latest: Mapping[str, Sequence[PublishedEntry]]
) -> list[Path]:
    """The front page and sources.opml; `latest` holds every feed's published entries."""
    sizes = store.category_sizes()
    site_links = store.site_links()
    feeds = [
        summarize_feed(feed, latest[feed.slug], sizes.get(feed.slug, 0))
        for feed in feeds_of(settings)
    ]
    sources = source_rows(settings, store.source_states(), site_links)
    documents = {
        FRONT_PAGE: render_front_page(settings.hub.title, feeds, sources),
        SOURCES_OPML: render_opml(settings, site_links),
    }
    written = _write_all(settings.hub.output_dir, "", documents, store)
    store.set_hub_state(SITE_DIGEST, site_digest(settings, sources, site_links))
    return written


def site_is_current(store: Store, settings: Settings) -> bool:
    """Whether the site (front page, sources.opml) shows what it would show if written now,
    the feeds' entries aside (see `feedhub.publish.frontpage.site_digest`)."""
    site_links = store.site_links()
    sources = source_rows(settings, store.source_states(), site_links)
    return store.hub_state(SITE_DIGEST) == site_digest(settings, sources, site_links)


def _write_all(
    output_dir: Path, folder: str, documents: Mapping[str, bytes], keeper: DocumentKeeper
) -> list[Path]:
    return [
        output_dir / folder / name
        for name, body in documents.items()
        if write_document(output_dir, folder + name, body, keeper)
    ]


class DocumentKeeper(Protocol):
    """Where published documents are kept besides output_dir: the store, or a feed's
    `Publication` (so that they change in the transaction that regenerates the feed)."""

    def save_document(self, path: str, body: bytes, content_type: str, etag: str) -> bool: ...


def write_document(output_dir: Path, path: str, body: bytes, keeper: DocumentKeeper) -> bool:
    """Publish one document at `path` (relative to the site root): every published document
    is written here, into the store with its ETag (what `feedhub serve` reads on a shared
    store, from any machine), and to output_dir atomically; True if the file changed."""
    content_type = content_type_of(path.rpartition("/")[2])
    if content_type is None:
        raise ValueError(f"{path}: no content type is known for this name")  # a bug: see serve
    keeper.save_document(path, body, content_type, strong_etag(body))
    return write_atomically(output_dir / path, body)


def render_atom(feed: FeedInfo, published: Sequence[PublishedEntry]) -> bytes:
    generator = _generator(feed, published, self_name=ATOM)
    return _with_link_attributes(bytes(generator.atom_str(pretty=True)), published)


def _with_link_attributes(document: bytes, published: Sequence[PublishedEntry]) -> bytes:
    """Put back the rel, type and length of each entry's links.

    feedgen 1.0 writes an entry's links with their href only (its `atom_entry` reads
    them from the element it has just created), which would turn enclosures and
    related links into alternate links.
    """
    from lxml import etree  # only when a feed is written: a warm poll writes none

    root = etree.fromstring(document)
    for element, entry in zip(root.iterfind(_ATOM_ENTRY), published, strict=True):
        links = zip(element.iterfind(_ATOM_LINK), _entry_links(entry), strict=True)
        for link, attributes in links:
            link.attrib.update(attributes)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def render_rss(feed: FeedInfo, published: Sequence[PublishedEntry]) -> bytes:
    generator = _generator(feed, published, self_name=RSS)
    return bytes(generator.rss_str(pretty=True))


def _generator(
    feed: FeedInfo, published: Sequence[PublishedEntry], *, self_name: str
) -> FeedGenerator:
    from feedgen.feed import FeedGenerator  # only when a feed is written

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
    for link in _entry_links(entry):
        item.link(**link)
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


def _entry_links(entry: PublishedEntry) -> list[dict[str, str]]:
    """The entry's links, in the order they are given to feedgen."""
    links = [{"href": entry.link, "rel": "alternate"}] if entry.link else []
    links += [{"href": alternate, "rel": "related"} for alternate in entry.alternates]
    # RSS allows one <enclosure>, and feedgen makes it the last one added: the first one.
    links += [
        {
            "href": enclosure.url,
            "rel": "enclosure",
            "type": enclosure.type,
            "length": str(enclosure.length),
        }
        for enclosure in reversed(entry.enclosures)
    ]
    return links


def _public_source_url(entry: PublishedEntry, fallback: str) -> str:
    """The source's feed URL, unless it is a local file the public has no business seeing."""
    return public_url(entry.source.url) or public_url(entry.source.link) or fallback
