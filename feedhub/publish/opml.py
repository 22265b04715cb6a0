"""OPML 2.0 (http://opml.org/spec2.opml): the configured sources out, a subscription list in.

`render_opml` writes the sources grouped by category: one outline per category
holding its sources (a source in two categories is in both groups), sources
with no category of their own at the top level. Each source outline carries its
category's slug in the standard `category` attribute, so a feedhub export
imports back into the same categories. `parse_opml` reads any OPML file (nested
folders, missing titles); its parser never fetches anything nor expands entities.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feedhub.config.settings import Settings, SourceSettings
from feedhub.core.errors import OpmlError
from feedhub.publish.catalog import public_url

if TYPE_CHECKING:
    from lxml import etree

_MAX_OPML_BYTES = 10 * 1024 * 1024
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class OpmlSource:
    """One feed listed in an OPML file, with the group (category) it was listed under."""

    url: str  # xmlUrl
    title: str  # the outline's title, else its text; "" when it has neither
    html_url: str | None  # htmlUrl, the feed's web site
    category: str | None  # the title of the enclosing group outline, None at the top level
    category_slug: str | None = None  # the slug feedhub wrote in `category`, None elsewhere


def render_opml(
    settings: Settings, site_links: Mapping[str, str], *, local_files: bool = False
) -> bytes:
    """The sources as OPML 2.0; `site_links` maps source URLs to their web sites.

    Sources that are local files are left out unless `local_files` (their file:
    URLs mean nothing to anyone else, and say where things are on this machine).
    """
    from lxml import etree

    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = f"{settings.hub.title}: sources"
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(opml, "body")
    listed = [s for s in settings.sources if local_files or public_url(s.url)]
    for slug, category in settings.categories.items():
        members = [source for source in listed if slug in source.categories]
        if members:
            group = etree.SubElement(body, "outline", text=category.title, title=category.title)
            for source in members:
                _source_outline(group, source, site_links, slug)
    for source in listed:
        if not source.categories:
            _source_outline(body, source, site_links, None)
    etree.indent(opml, space="  ")
    return bytes(etree.tostring(opml, xml_declaration=True, encoding="UTF-8")) + b"\n"


def _source_outline(
    parent: etree._Element,
    source: SourceSettings,
    site_links: Mapping[str, str],
    slug: str | None,
) -> None:
    attributes = {"type": "rss", "text": source.name, "title": source.name, "xmlUrl": source.url}
    if html_url := public_url(site_links.get(source.url)):
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
    return value if value and _SLUG.fullmatch(value) else None


def _title(outline: etree._Element) -> str:
    return _attribute(outline, "title") or _attribute(outline, "text") or ""


def _attribute(outline: etree._Element, name: str) -> str | None:
    """An attribute, also under its lower-case spelling, which some exporters use."""
    value = outline.get(name) or outline.get(name.lower())
    return value.strip() or None if value else None
