"""OPML 2.0 (http://opml.org/spec2.opml): the configured sources out, a subscription list in.

`render_opml` writes the sources grouped by category: one outline per category
holding its sources (a source in two categories is in both groups), sources
with no category of their own at the top level. Each source outline carries its
category's slug in the standard `category` attribute, so a feedhub export
imports back into the same categories. A source that is a local file has no
URL anyone else can follow: `LocalSources` says whether it is left out, listed
by its file: URL, or listed as the hub's own feed that republishes it. Unless
listed as files (for this machine only), URLs lose their userinfo and secret query
values (`feedhub.core.urls.web_url`).
`parse_opml` reads any OPML file (nested folders, missing titles); its parser
never fetches anything nor expands entities.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from feedhub.config.settings import Settings, SourceSettings, is_slug
from feedhub.core.errors import OpmlError
from feedhub.core.text import strip_forbidden
from feedhub.core.urls import web_url
from feedhub.publish.catalog import ATOM, FeedInfo, feeds_of
from feedhub.rules.routing import ALL

if TYPE_CHECKING:
    from lxml import etree

_MAX_OPML_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OpmlSource:
    """One feed listed in an OPML file, with the group (category) it was listed under."""

    url: str  # xmlUrl
    title: str  # the outline's title, else its text; "" when it has neither
    html_url: str | None  # htmlUrl, the feed's web site
    category: str | None  # the title of the enclosing group outline, None at the top level
    category_slug: str | None = None  # the slug feedhub wrote in `category`, None elsewhere


class LocalSources(Enum):
    """What an OPML list makes of a source that is a local file."""

    LEAVE_OUT = "leave out"  # `opml export`: its path means nothing to another reader
    AS_FILES = "as files"  # its file: URL, for this machine only
    THROUGH_HUB = "through the hub"  # sources.opml: the hub's feed of its group carries it


def local_sources(settings: Settings) -> list[SourceSettings]:
    """The sources no one else can fetch: local files."""
    return [source for source in settings.sources if not web_url(source.url)]


def render_opml(
    settings: Settings,
    site_links: Mapping[str, str],
    *,
    local: LocalSources = LocalSources.LEAVE_OUT,
) -> bytes:
    """The sources as OPML 2.0; `site_links` maps source URLs to their web sites."""
    from lxml import etree

    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = f"{settings.hub.title}: sources"
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(opml, "body")
    listed = [s for s in settings.sources if local is not LocalSources.LEAVE_OUT or web_url(s.url)]
    feeds = {feed.slug: feed for feed in feeds_of(settings)}
    outline = _Outlines(site_links, local, settings.hub.title)
    for slug, category in settings.categories.items():
        members = [source for source in listed if slug in source.categories]
        if members:
            group = etree.SubElement(body, "outline", text=category.title, title=category.title)
            for source in members:
                outline.add(group, source, feeds[slug], slug)
    for source in listed:
        if not source.categories:
            outline.add(body, source, feeds[ALL], None)
    etree.indent(opml, space="  ")
    return bytes(etree.tostring(opml, xml_declaration=True, encoding="UTF-8")) + b"\n"


@dataclass(frozen=True, slots=True)
class _Outlines:
    site_links: Mapping[str, str]
    local: LocalSources
    hub_title: str

    def add(
        self, parent: etree._Element, source: SourceSettings, feed: FeedInfo, slug: str | None
    ) -> None:
        """`source`'s outline in `parent`; `feed` is the hub's feed of that group."""
        published = web_url(source.url)
        url = source.url if self.local is LocalSources.AS_FILES else published or source.url
        text, html_url = source.name, web_url(self.site_links.get(source.url))
        if self.local is LocalSources.THROUGH_HUB and not published:
            through = feed.title if feed.slug == ALL else f"{self.hub_title}: {feed.title}"
            text = f"{source.name} (through {through})"
            url, html_url = feed.url(ATOM), feed.base_url
        attributes = {"type": "rss", "text": text, "title": text, "xmlUrl": url}
        if html_url:
            attributes["htmlUrl"] = html_url
        if slug is not None:
            attributes["category"] = slug
        parent.append(parent.makeelement("outline", attributes))


def parse_opml(data: bytes) -> list[OpmlSource]:
    """Every feed outline (one with an xmlUrl) of an OPML document, in document order.

    A feed listed under several groups comes once per group. Raises OpmlError
    when `data` is not an OPML document.
    """
    if len(data) > _MAX_OPML_BYTES:
        raise OpmlError(
            f"the OPML file is larger than {_MAX_OPML_BYTES // (1024 * 1024)} MiB; split it"
        )
    from lxml import etree  # only when an OPML file is read or written

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise OpmlError(f"not well-formed XML ({error}); check that it is an OPML file") from None
    body = root.find("body")
    if etree.QName(root).localname != "opml" or body is None:
        raise OpmlError("not an OPML file (no <opml> with a <body>); export OPML from your reader")
    return list(_feeds(body, None))


def _feeds(parent: etree._Element, group: etree._Element | None) -> Iterator[OpmlSource]:
    for outline in parent.iterchildren("outline"):
        url = _attribute(outline, "xmlUrl")
        if not url:
            # A folder: the nearest folder names the category of the feeds inside.
            yield from _feeds(outline, outline)
            continue
        yield OpmlSource(
            url=url,
            title=_title(outline),
            html_url=_attribute(outline, "htmlUrl"),
            category=(_title(group) or None) if group is not None else None,
            category_slug=_slug(outline) if group is not None else None,
        )


def _slug(outline: etree._Element) -> str | None:
    """The category slug feedhub wrote; other tools' category strings are not slugs."""
    value = _attribute(outline, "category")
    return value if value and is_slug(value) else None


def _title(outline: etree._Element) -> str:
    return _attribute(outline, "title") or _attribute(outline, "text") or ""


def _attribute(outline: etree._Element, name: str) -> str | None:
    """An attribute, also under its lower-case spelling, which some exporters use; made
    safe here, where the file is read (lxml lets C1 controls through)."""
    value = outline.get(name) or outline.get(name.lower())
    return strip_forbidden(value).strip() or None if value else None
