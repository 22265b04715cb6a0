"""Publish the store: Atom, RSS and JSON Feed per category and for all, the front page and
sources.opml, each written atomically.

Each document is rendered and written on its own: one that fails (a bug, data that
cannot be rendered, a file that cannot be replaced) is logged in one line and named
in the `PublishError` raised once all the others are written.

Generation is deterministic: entries are appended in the order given (newest
first), every date comes from the data (a feed's `updated` is its newest
entry's), so unchanged data gives byte-identical files, and unchanged files are
not rewritten at all (their mtime, and so Last-Modified, stays).
"""

from __future__ import annotations

import html
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from feedhub import __version__
from feedhub.config.settings import Settings
from feedhub.core.errors import PublishError
from feedhub.core.files import write_atomically
from feedhub.core.models import PublishedEntry
from feedhub.core.site import content_type_of, strong_etag
from feedhub.core.text import error_line
from feedhub.core.urls import web_url
from feedhub.publish.catalog import (
    ATOM,
    FEED_FILES,
    FEED_PAGE,
    FRONT_PAGE,
    JSON_FEED,
    RSS,
    SITE_FILES,
    SOURCES_OPML,
    FeedInfo,
    feeds_digest,
    feeds_of,
    health_feed,
    newest_update,
)
from feedhub.publish.frontpage import (
    render_feed_page,
    render_front_page,
    site_digest,
    source_rows,
    summarize_feed,
)
from feedhub.publish.jsonfeed import render_json_feed
from feedhub.publish.opml import LocalSources, render_opml
from feedhub.rules.neardup import showing_of
from feedhub.store.facade import Store
from feedhub.store.websub_sources import SubscriberStore

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator
    from lxml import etree

log = logging.getLogger(__name__)

GENERATOR_URI = "https://github.com/feedhub/feedhub"
SITE_DIGEST = "site_digest"  # in hub_state: what the site was last written from
FEEDS_DIGEST = "feeds_digest"  # in hub_state: what all the feeds were last written from
_ATOM = "{http://www.w3.org/2005/Atom}"
_ATOM_ENTRY = _ATOM + "entry"
_ATOM_LINK = _ATOM + "link"
_ATOM_SOURCE = _ATOM + "source"
_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
_MARKUP_START = re.compile(r"<(?=[A-Za-z/!?])|&(?=[A-Za-z0-9#])")
_LONGEST_REFERENCE = 40  # "&CounterClockwiseContourIntegral;" and the like


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
    failed: list[str] = []
    latest: dict[str, list[PublishedEntry]] = {}
    for feed in feeds_of(settings):
        showing = showing_of(settings, feed.slug)
        if wanted is None or feed.slug in wanted:
            forcing = wanted is None or feed.slug in always
            with store.publishing(feed.slug, always=forcing) as publication:
                if publication is not None:
                    latest[feed.slug] = publication.latest_entries(
                        feed.slug, settings.hub.max_entries, feed.max_per_source, showing
                    )
                    written += write_feed(
                        settings.hub.output_dir, feed, latest[feed.slug], publication, failed
                    )
        if feed.slug not in latest:
            with store.publication() as view:
                latest[feed.slug] = view.latest_entries(
                    feed.slug, settings.hub.max_entries, feed.max_per_source, showing
                )
    written += write_site(store, settings, latest, failed)
    if failed:
        raise PublishError(failed)
    if wanted is None:
        store.set_hub_state(FEEDS_DIGEST, feeds_digest(settings))
    return written


def missing_outputs(settings: Settings) -> tuple[set[str], bool]:
    """The feeds with a file missing from output_dir, and whether a site page is missing."""
    output = settings.hub.output_dir
    feeds = {
        feed.slug
        for feed in feeds_of(settings)
        if not all((output / feed.slug / name).exists() for name in FEED_FILES)
    }
    return feeds, not all((output / name).exists() for name in SITE_FILES)


def feeds_are_current(store: Store, settings: Settings) -> bool:
    """Whether the feeds were last all written with the titles, URLs and sizes the config
    now gives them (see `feedhub.publish.catalog.feeds_digest`)."""
    return store.hub_state(FEEDS_DIGEST) == feeds_digest(settings)


def write_feed(
    output_dir: Path,
    feed: FeedInfo,
    published: Sequence[PublishedEntry],
    keeper: DocumentKeeper,
    failed: list[str],
) -> list[Path]:
    """Write one feed's documents; the paths of those that could not be are added to `failed`."""
    documents = {
        ATOM: partial(render_atom, feed, published),
        RSS: partial(render_rss, feed, published),
        JSON_FEED: partial(render_json_feed, feed, published),
        FEED_PAGE: partial(render_feed_page, feed, published),
    }
    return _write_all(output_dir, f"{feed.slug}/", documents, keeper, failed)


def write_site(
    store: Store,
    settings: Settings,
    latest: Mapping[str, Sequence[PublishedEntry]],
    failed: list[str],
) -> list[Path]:
    """The front page and sources.opml; `latest` holds every feed's published entries."""
    sizes = store.category_sizes()
    site_links = store.site_links()
    feeds = [
        summarize_feed(feed, latest[feed.slug], sizes.get(feed.slug, 0))
        for feed in feeds_of(settings)
    ]
    sources = source_rows(settings, store.source_states(), site_links, _pushing(store, settings))
    documents = {
        FRONT_PAGE: partial(
            render_front_page, settings.hub.title, feeds, sources, health_feed(settings)
        ),
        SOURCES_OPML: partial(render_opml, settings, site_links, local=LocalSources.THROUGH_HUB),
    }
    before = len(failed)
    with store.publication(write=True) as keeper:
        written = _write_all(settings.hub.output_dir, "", documents, keeper, failed)
    if len(failed) == before:  # else the site is tried again at the next publish
        store.set_hub_state(SITE_DIGEST, site_digest(settings, sources, site_links))
    return written


def site_is_current(store: Store, settings: Settings) -> bool:
    """Whether the site (front page, sources.opml) shows what it would show if written now,
    the feeds' entries aside (see `feedhub.publish.frontpage.site_digest`)."""
    site_links = store.site_links()
    sources = source_rows(settings, store.source_states(), site_links, _pushing(store, settings))
    return store.hub_state(SITE_DIGEST) == site_digest(settings, sources, site_links)


def _pushing(store: Store, settings: Settings) -> set[str]:
    """The sources whose WebSub hubs push to feedhub, for the front page."""
    return SubscriberStore(store).pushing() if settings.websub.enabled else set()


def _write_all(
    output_dir: Path,
    folder: str,
    documents: Mapping[str, Callable[[], bytes]],
    keeper: DocumentKeeper,
    failed: list[str],
) -> list[Path]:
    """Render and write each document on its own; a failure is logged and added to `failed`."""
    written = []
    for name, render in documents.items():
        path = folder + name
        try:
            body = render()
        except Exception as error:  # whatever one document's data does, the others are written
            _not_published(path, error, failed)
            continue
        try:
            if write_document(output_dir, path, body, keeper):
                written.append(output_dir / path)
        except OSError as error:  # this file cannot be replaced (a folder there, permissions)
            _not_published(path, error, failed)
    return written


def _not_published(path: str, error: Exception, failed: list[str]) -> None:
    log.error("%s: not published: %s", path, error_line(error))
    log.debug("%s: not published", path, exc_info=error)
    failed.append(path)


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
    document = _with_link_attributes(bytes(generator.atom_str(pretty=True)), published)
    return _with_hub(document, feed.hub)


def _with_hub(document: bytes, hub: str | None) -> bytes:
    """Add `<atom:link rel="hub">` beside the feed's `rel="self"` (WebSub discovery);
    feedgen knows no hub links."""
    from lxml import etree  # only when a feed is written

    if hub is None:
        return document
    root = etree.fromstring(document)
    own = root if root.tag != "rss" else root.find("channel")
    self_link = next(link for link in own.iterchildren(_ATOM_LINK) if link.get("rel") == "self")
    hub_link = etree.Element(_ATOM_LINK, href=hub, rel="hub")
    hub_link.tail = self_link.tail
    self_link.addnext(hub_link)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _with_link_attributes(document: bytes, published: Sequence[PublishedEntry]) -> bytes:
    """Put back the rel, type and length of each entry's links, and complete its atom:source.

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
        if (source := element.find(_ATOM_SOURCE)) is not None:
            _fill_source(source, entry)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _fill_source(element: etree._Element, entry: PublishedEntry) -> None:
    """atom:source as RFC 4287 (4.2.11) means it: the source feed's id, title, links and
    updated (feedgen writes a title and one link). The id is the feed's URL, or for a local
    file a UUID made from it, so its path stays private; updated is the entry's own, the
    latest the source feed is known to have changed, so republishing gives the same bytes."""
    from lxml import etree  # only when a feed is written

    source = entry.source
    feed_url = web_url(source.url)
    identity = feed_url or f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, source.url)}"
    element.clear(keep_tail=True)
    etree.SubElement(element, _ATOM + "id").text = identity
    etree.SubElement(element, _ATOM + "title").text = source.name
    if feed_url:
        etree.SubElement(element, _ATOM_LINK, rel="self", href=feed_url)
    if site := web_url(source.link):
        etree.SubElement(element, _ATOM_LINK, rel="alternate", type="text/html", href=site)
    etree.SubElement(element, _ATOM + "updated").text = entry.updated.isoformat()


def render_rss(feed: FeedInfo, published: Sequence[PublishedEntry]) -> bytes:
    shown = replace(feed, title=_as_rss_text(feed.title))
    entries = [replace(entry, title=_as_rss_text(entry.title)) for entry in published]
    generator = _generator(shown, entries, self_name=RSS)
    document = _with_hub(bytes(generator.rss_str(pretty=True)), feed.hub)
    document = _with_related_links(document, published)
    if not any(entry.image or _duration(entry) for entry in published):
        return document
    return _with_podcast_details(document, feed, published)


def _with_podcast_details(
    document: bytes, feed: FeedInfo, published: Sequence[PublishedEntry]
) -> bytes:
    """What a podcast app needs besides the enclosure: each episode's itunes:duration and
    itunes:image, and the cover as the channel's image when all episodes share one.

    Added here rather than through feedgen's podcast extension, which refuses image URLs
    that do not end in .jpg or .png (a query string, a .webp)."""
    from lxml import etree  # only when a feed is written

    root = etree.fromstring(document)
    channel = root.find("channel")
    for element, entry in zip(root.iter("item"), published, strict=True):
        if seconds := _duration(entry):
            etree.SubElement(element, _ITUNES + "duration").text = str(seconds)
        if entry.image:
            etree.SubElement(element, _ITUNES + "image", href=entry.image)
    covers = {entry.image for entry in published if entry.image}
    if channel is not None and len(covers) == 1:
        (cover,) = covers
        first_item = channel.find("item")
        image = etree.Element("image")
        for name, text in (("url", cover), ("title", feed.title), ("link", feed.base_url)):
            etree.SubElement(image, name).text = text
        for element in (image, etree.Element(_ITUNES + "image", href=cover)):
            if first_item is None:
                channel.append(element)
            else:
                first_item.addprevious(element)
    etree.cleanup_namespaces(root, top_nsmap={"itunes": _ITUNES[1:-1]})
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _duration(entry: PublishedEntry) -> int | None:
    return next((e.duration for e in entry.enclosures if e.duration), None)


def _as_rss_text(text: str) -> str:
    """Plain text that reads the same to every RSS reader.

    RSS does not say whether a title is text or HTML, and readers do both: "<b>" in a
    title is markup to some. A word joiner (invisible) after each "<" that would open a
    tag and each "&" that would start a character reference ("&amp;", "&copy") leaves
    HTML nothing to interpret; "AT&T" stays as it is.
    """
    return _MARKUP_START.sub(_joined, text)


def _joined(found: re.Match[str]) -> str:
    start = found.group(0)
    rest = found.string[found.end() : found.end() + _LONGEST_REFERENCE]
    if start == "&" and html.unescape(start + rest).startswith(start):
        return start  # HTML reads no reference here
    return start + "\u2060"


def _with_related_links(document: bytes, published: Sequence[PublishedEntry]) -> bytes:
    """RSS 2.0 has one link per item: the same story at other sites goes in as
    <atom:link rel="related" href=... title=...>, the Atom extension RSS readers know."""
    from lxml import etree  # only when a feed is written

    if not any(entry.related for entry in published):
        return document
    root = etree.fromstring(document)
    for element, entry in zip(root.iterfind("channel/item"), published, strict=True):
        for related in entry.related:
            link = etree.SubElement(element, _ATOM_LINK)
            link.attrib.update({"rel": "related", "href": related.url, "title": related.title})
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


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
    newest = newest_update(published, feed.quiet_since)
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
    links += [{"href": r.url, "rel": "related", "title": r.title} for r in entry.related]
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
    return web_url(entry.source.url) or web_url(entry.source.link) or fallback
