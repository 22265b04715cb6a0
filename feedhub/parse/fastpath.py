"""Read plain RSS 2.0, RSS 1.0 and Atom 1.0 with lxml into the dictionaries feedparser makes.

feedparser's reading of an ordinary feed costs about five times this module's (lxml's
parse included), and a parse worker need not import it when this module reads every
document it gets. This module reads the common shapes of the three formats (podcasts'
iTunes elements, WebSub's links and WordPress's comment elements among them) with lxml
into dictionaries with the keys `feedhub.parse.document` reads, by feedparser's own
rules for them: guids that are links, a second summary taken for content, content
copied to a missing summary, HTML guessed in RSS titles, text fixed up as its `pop`
fixes it, links resolved against the document's URL. So the document and entries made
from either are equal (`tests/test_parse_differential.py`). It follows feedparser's
small rules through `feedhub.parse.feedparser_rules`, and so imports no feedparser but
for a date that `feedhub.parse.dates` cannot read.

It declines (raises `Declined`), and feedparser reads the document, on everything else:
a document lxml finds ill-formed (feedparser's loose parser recovers what it can, and
the document is reported malformed), a DOCTYPE, a base URL of its own (`xml:base`),
another root, an element or attribute in another namespace (Media RSS among them, and
an XLink declaration, which feedparser takes for an attribute), an element where it does
not know what feedparser makes of it, markup inside a text, XHTML or base64 content,
two titles in a feed or an entry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from feedhub.core.text import strip_forbidden
from feedhub.parse.dates import parse_date
from feedhub.parse.feedparser_rules import (
    HTML_TYPES,
    add_tag,
    enforce_href,
    feedparser_date,
    fixed,
    looks_like_html,
    map_content_type,
    save_author,
    sync_author,
    urljoin_safely,
)

Raw = dict[str, Any]
Handler = Callable[[Raw, Any], None]  # reads one child element of an entry into its dictionary

_ATOM = "http://www.w3.org/2005/Atom"
_RSS1 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_ITUNES_SCHEME = "http://www.itunes.com/"
# The namespaces read here, lowercased as feedparser matches them, by the prefix it gives.
_PREFIXES = {
    namespace.lower(): prefix
    for namespace, prefix in {
        "": "",
        _ATOM: "",
        _RSS1: "",
        "http://backend.userland.com/rss": "",
        "http://purl.org/rss/1.0/modules/content/": "content:",
        "http://purl.org/dc/elements/1.1/": "dc:",
        "http://purl.org/rss/1.0/modules/syndication/": "sy:",
        "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes:",
        "http://wellformedweb.org/CommentAPI/": "wfw:",
        "http://purl.org/rss/1.0/modules/slash/": "slash:",
        _RDF: "rdf:",
    }.items()
}
# Namespaced attributes that feedparser reads nowhere feedhub looks (it also reads every
# other one under its local name: `foo:url` would be an enclosure's link).
_FOREIGN_ATTRIBUTES = frozenset({"rdf:about", "rdf:resource", "xml:lang", "xml:space"})
_ATTRIBUTE_PREFIXES = {_RDF: "rdf:", "http://www.w3.org/XML/1998/namespace": "xml:"}
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
# Summaries and contents by the type feedparser gives them when they state none.
_SUMMARIES = {"description": "text/html", "summary": "text/plain", "itunes:summary": "text/plain"}
_CONTENTS = {"content:encoded": "text/html", "content": "text/plain"}
_DATES = {
    "pubdate": "published",
    "published": "published",
    "updated": "updated",
    "dc:date": "updated",
}
_AUTHORS = frozenset({"author", "dc:creator", "itunes:author"})
_AUTHOR_PARTS = {"name": "name", "email": "email", "uri": "href"}
_IMAGE_PARTS = frozenset({"url", "title", "link", "width", "height", "description"})
# Elements of a channel or feed that set nothing feedhub reads, by what may be inside them
# (feedparser's handlers run on every descendant: a <title> anywhere else would be the feed's).
_FEED_IGNORED: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ("language", "copyright", "rights", "webmaster", "pubdate", "published", "updated",
         "lastbuilddate", "category", "generator", "docs", "cloud", "rating", "subtitle",
         "icon", "logo", "dc:date", "dc:language", "dc:publisher", "dc:rights", "dc:subject",
         "sy:updatebase", "itunes:subtitle", "itunes:explicit", "itunes:type", "itunes:keywords",
         "itunes:block", "itunes:complete", "itunes:new-feed-url"),
        frozenset(),
    ),
    **dict.fromkeys(
        ("author", "contributor", "managingeditor", "dc:creator", "itunes:author"),
        frozenset(_AUTHOR_PARTS),
    ),
    "itunes:owner": frozenset({"itunes:name", "itunes:email"}),
    "itunes:category": frozenset({"itunes:category"}),
    "items": frozenset({"rdf:seq", "rdf:li"}),
    "skiphours": frozenset({"hour"}),
    "skipdays": frozenset({"day"}),
    # feedparser leaves an image or text input at any other element, and its title is the feed's.
    "textinput": frozenset({"title", "description", "name", "link"}),
    "image": _IMAGE_PARTS,
}  # fmt: skip
_FEED_PLAIN = frozenset({"ttl", "sy:updateperiod", "sy:updatefrequency"})
_ENTRY_IGNORED = frozenset(
    {"comments", "rights", "itunes:explicit", "itunes:episode", "itunes:season",
     "itunes:episodetype", "itunes:title", "itunes:block", "itunes:subtitle"}
)  # fmt: skip
_IGNORED_PREFIXES = ("wfw:", "slash:")
# A base URL of its own: `xml:base`, or `base` in any namespace and case, feedparser
# follows both.
_OWN_BASE = "boolean(//@*[translate(local-name(), 'BASE', 'base') = 'base'])"
_XLINK = "http://www.w3.org/1999/xlink"
_DECLARED = "boolean(//namespace::*[. = $namespace])"  # declared on any element
_LINK_REFERENCE = re.compile(r"&([A-Za-z0-9_]+);")


class Declined(Exception):
    """The fast path does not read this document the way feedparser would: use feedparser."""


def read(body: bytes, base: str) -> tuple[Raw, list[Raw]]:
    """The feed's and its entries' dictionaries, as feedparser makes them; or Declined.

    `body` is UTF-8 (`feedhub.parse.encoding.to_utf8`); `base` is what feedparser is
    given as the document's location ("" for none).
    """
    if b"<!DOCTYPE" in body or b"<!doctype" in body:
        raise Declined("a DOCTYPE")
    try:
        # A parser per document: lxml parsers must not be shared between threads.
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
        )
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError) as error:
        raise Declined(f"not well formed: {error}") from None
    if root.xpath(_OWN_BASE):
        raise Declined("a base URL of its own (xml:base)")
    if _XLINK.encode() in body and root.xpath(_DECLARED, namespace=_XLINK):
        raise Declined("the XLink namespace (feedparser takes its declaration for an attribute)")
    # feedparser takes the version from the first of these namespaces the root declares.
    declared = {str(namespace).lower() for namespace in root.nsmap.values()}
    reader = _Reader(base, atom=root.tag == f"{{{_ATOM}}}feed")
    if reader.atom and _RSS1 not in declared:
        reader.container(root)
    elif root.tag == "rss" and [_key(child) for child in root] == ["channel"]:
        reader.container(root[0])
    elif root.tag == f"{{{_RDF}}}RDF" and _RSS1 in declared and _ATOM.lower() not in declared:
        reader.rdf(root)
    else:
        raise Declined("not RSS 2.0, RSS 1.0 or Atom 1.0")
    return reader.feed, reader.entries


def _key(element: Any) -> str:
    """The element's name as feedparser dispatches on it: known prefix, lowercased."""
    tag = element.tag
    if not isinstance(tag, str):
        raise Declined("an entity reference")
    key = _key_of(tag)
    if key is None:
        raise Declined(f"an element in the namespace of {tag}")
    return key


@functools.lru_cache(maxsize=256)  # a few dozen names recur in every feed
def _key_of(tag: str) -> str | None:
    namespace, _, local = tag[1:].rpartition("}") if tag[0] == "{" else ("", "", tag)
    prefix = _PREFIXES.get(namespace.lower())
    return None if prefix is None else prefix + local.lower()


def _attributes(element: Any) -> dict[str, str]:
    """Attributes as feedparser gets them: names lowercased, and the values of rel and type."""
    found = {}
    for name, value in element.attrib.items():
        if name[0] == "{":
            namespace, _, local = name[1:].partition("}")
            name = _ATTRIBUTE_PREFIXES.get(namespace, "?:") + local  # "?:": never allowed
            if name.lower() not in _FOREIGN_ATTRIBUTES:
                raise Declined(f"the attribute {local} in the namespace of {namespace}")
        name = name.lower()
        found[name] = value.lower() if name in ("rel", "type") else value
    return found


def _leaf(element: Any) -> None:
    """Decline an element with elements inside: feedparser reads those too, as it may."""
    if len(element):
        raise Declined(f"markup inside <{element.tag}>")


def _text(element: Any) -> str:
    """An element's text as feedparser's `pop` hands it on (before its own fix-ups)."""
    _leaf(element)
    return (element.text or "").strip()


def _plain(element: Any) -> str:
    """The text of an element feedparser has no handler for (it keeps attributes instead)."""
    if element.attrib:
        raise Declined(f"attributes on <{element.tag}>")
    return fixed(_text(element))


def _check_inside(element: Any, allowed: frozenset[str]) -> None:
    if any(_key(inner) not in allowed for inner in element.iterdescendants()):
        raise Declined(f"unexpected elements inside <{element.tag}>")


class _Reader:
    """One document's reading, in document order, with the state feedparser keeps."""

    def __init__(self, base: str, *, atom: bool) -> None:
        # feedparser joins the document's URL onto itself at every element (unless it
        # fails to), and resolves every relative link against that.
        self.base = urljoin_safely(base, base) or base if base else ""
        self.atom = atom
        self.feed: Raw = {}
        self.entries: list[Raw] = []
        # A content element seen since the last entry ended (feedparser's `hasContent`):
        # a second summary is content only when there is none yet.
        self.has_content = False
        self.feed_has_summary = False
        self.handlers = self._entry_handlers()

    def container(self, parent: Any) -> None:
        """A channel's or Atom feed's elements: the feed's, and its entries."""
        self._no_cdf_attributes(parent)
        for child in parent:
            key = _key(child)
            if key in ("item", "entry"):
                self.entries.append(self.entry(child))
            else:
                self._feed_element(key, child)

    def rdf(self, root: Any) -> None:
        """An RSS 1.0 document: its channel first, then its items, image and text input."""
        channel, *rest = root if len(root) else [None]
        if channel is None or _key(channel) != "channel":
            # (feedparser would take an image's title before it for the feed's)
            raise Declined("RSS 1.0 whose channel does not come first")
        self.container(channel)
        for child in rest:
            key = _key(child)
            if key == "item":
                self.entries.append(self.entry(child))
            elif key in ("image", "textinput"):
                _check_inside(child, _FEED_IGNORED[key])  # outside the channel: no feed's
            else:
                raise Declined(f"<{key}> in RSS 1.0")

    def _feed_element(self, key: str, element: Any) -> None:
        feed = self.feed
        if key == "title":
            if "title" in feed:
                raise Declined("two titles in the feed")
            self._content_type(element, "text/plain")
            feed["title"] = fixed(_text(element))
        elif key == "link":
            self._link(feed, element, in_entry=False)
        elif key in ("id", "guid"):
            self._guid(feed, element)
        elif key in _FEED_PLAIN:
            feed[key.replace(":", "_")] = _plain(element)
        elif key == "image":
            self._image(element)
        elif key == "itunes:image":
            self._itunes_image(feed, element)
        elif key in _SUMMARIES:
            # The feed's summary is not read; a second one is its content, though, and
            # feedparser's `hasContent` then holds until the first entry ends.
            _leaf(element)
            if self.feed_has_summary and not self.has_content:
                self.has_content = True
            elif key != "description":  # which feedparser keeps as the subtitle
                self.feed_has_summary = True
        elif key in _FEED_IGNORED:
            _check_inside(element, _FEED_IGNORED[key])
        elif key.startswith(_IGNORED_PREFIXES):
            _leaf(element)
        else:
            raise Declined(f"<{key}> in the feed")

    def _image(self, element: Any) -> None:
        image = self.feed.setdefault("image", {})
        for child in element:
            key = _key(child)
            if key not in _IMAGE_PARTS:
                raise Declined(f"<{key}> in the feed's image")
            text = _text(child)
            if key == "url":
                image["href"] = fixed(self._resolved(text))

    def entry(self, item: Any) -> Raw:
        raw: Raw = {"links": [], "tags": [], "authors": []}
        about = self._no_cdf_attributes(item).get("rdf:about")
        if about:
            raw["id"] = about
        for child in item:
            key = _key(child)
            handler = self.handlers.get(key)
            if handler is not None:
                handler(raw, child)
            elif key in _ENTRY_IGNORED or key.startswith(_IGNORED_PREFIXES):
                _leaf(child)
            else:
                raise Declined(f"<{key}> in an entry")
        self.has_content = False
        if "content" in raw and "summary" not in raw:
            # feedparser copies text or HTML content to a summary the entry lacks.
            raw["summary"] = raw["content"][0]["value"]
        for name in ("published", "updated"):
            if name in raw and parse_date(strip_forbidden(raw[name])) is None:
                # feedhub.parse.document falls back on feedparser's reading of a date
                # only when its own finds none; spare the call otherwise.
                raw[f"{name}_parsed"] = feedparser_date(raw[name])
        return raw

    def _entry_handlers(self) -> dict[str, Handler]:
        as_content = self._content("text/plain")
        return {
            "title": self._title,
            "link": functools.partial(self._link, in_entry=True),
            **{key: self._summary(kind, as_content) for key, kind in _SUMMARIES.items()},
            **{key: self._content(kind) for key, kind in _CONTENTS.items()},
            "guid": self._guid,
            "id": self._guid,
            **{key: self._date(name) for key, name in _DATES.items()},
            **dict.fromkeys(_AUTHORS, self._author),
            "contributor": self._contributor,
            "category": self._category,
            "dc:subject": self._category,
            "itunes:keywords": self._keywords,
            "enclosure": self._enclosure,
            "itunes:image": self._itunes_image,
            "itunes:duration": self._duration,
        }

    def _no_cdf_attributes(self, element: Any) -> dict[str, str]:
        attributes = _attributes(element)
        if "href" in attributes or "lastmod" in attributes:
            raise Declined("a link or date as an attribute of a channel or entry (CDF)")
        return attributes

    def _content_type(self, element: Any, default: str) -> str:
        attributes = _attributes(element)
        if "mode" in attributes or "src" in attributes:
            raise Declined("content by mode or src")
        stated = map_content_type(attributes.get("type", default))
        if stated not in _TEXT_TYPES:
            raise Declined(f"content of type {stated}")
        return stated

    def _detail(self, element: Any, default: str) -> tuple[str, dict[str, str]]:
        """An element's text and feedparser's detail of it (type and base)."""
        kind = self._content_type(element, default)
        text = _text(element)
        if not self.atom and kind == "text/plain" and looks_like_html(text):
            kind = "text/html"
        return fixed(text), {"type": kind, "base": self.base}

    def _title(self, raw: Raw, element: Any) -> None:
        if "title" in raw:
            raise Declined("two titles in an entry")
        raw["title"], raw["title_detail"] = self._detail(element, "text/plain")

    def _summary(self, default: str, as_content: Handler) -> Handler:
        def read(raw: Raw, element: Any) -> None:
            if "summary" in raw and not self.has_content:
                as_content(raw, element)  # feedparser's reading of a second summary
            else:
                raw["summary"], raw["summary_detail"] = self._detail(element, default)

        return read

    def _content(self, default: str) -> Handler:
        def read(raw: Raw, element: Any) -> None:
            self.has_content = True
            value, detail = self._detail(element, default)
            raw.setdefault("content", []).append({**detail, "value": value})

        return read

    def _guid(self, raw: Raw, element: Any) -> None:
        is_link = _attributes(element).get("ispermalink", "true") == "true"
        text = _text(element)
        value = fixed(self._resolved(text) if is_link else text)
        raw["id"] = value
        if is_link:
            raw.setdefault("link", value)

    def _link(self, context: Raw, element: Any, *, in_entry: bool) -> None:
        attributes = _attributes(element)
        rel = attributes.setdefault("rel", "alternate")
        attributes.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        attributes = enforce_href(attributes)
        links = context.setdefault("links", [])
        links.append(attributes)
        if "href" in attributes:
            _leaf(element)
            href = attributes["href"] = urljoin_safely(self.base, attributes["href"])
            if rel == "alternate" and map_content_type(attributes["type"]) in HTML_TYPES:
                context["link"] = href
            return
        link = fixed(self._resolved(_text(element)))
        if in_entry:
            link = link.replace("&amp;", "&")
        # feedparser undoes what it takes for references in a link's query ("&b;=2").
        if "&" in link:
            link = _LINK_REFERENCE.sub(r"&\g<1>", link)
        context["link"] = link
        if link or not in_entry:
            links[-1]["href"] = link

    def _date(self, name: str) -> Handler:
        def read(raw: Raw, element: Any) -> None:
            raw[name] = fixed(_text(element))

        return read

    def _author(self, raw: Raw, element: Any) -> None:
        raw["authors"].append({})
        for part, value in self._person(element):
            save_author(raw, part, value)
        own = "".join([element.text or "", *(part.tail or "" for part in element)])
        raw["author"] = fixed(own.strip())  # the element's own text, around any parts
        sync_author(raw)

    def _contributor(self, raw: Raw, element: Any) -> None:
        self._person(element)  # feedhub reads no contributors; feedparser reads the parts

    def _person(self, element: Any) -> list[tuple[str, str]]:
        """An author's or contributor's parts, as feedparser saves them (names as written)."""
        parts = []
        for child in element:
            part = _AUTHOR_PARTS.get(_key(child))
            if part is None:
                raise Declined(f"<{_key(child)}> in an author")
            text = _text(child)
            parts.append((part, fixed(self._resolved(text)) if part == "href" else text))
        return parts

    def _category(self, raw: Raw, element: Any) -> None:
        attributes = _attributes(element)
        tags = raw["tags"]
        add_tag(
            tags,
            attributes.get("term"),
            attributes.get("scheme", attributes.get("domain")),
            attributes.get("label"),
        )
        value = fixed(_text(element))
        if value and tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        elif value:
            add_tag(tags, value, None, None)

    def _keywords(self, raw: Raw, element: Any) -> None:
        for term in _plain(element).split(","):
            if term.strip():
                add_tag(raw["tags"], term.strip(), _ITUNES_SCHEME, None)

    def _enclosure(self, raw: Raw, element: Any) -> None:
        _leaf(element)
        attributes = enforce_href(_attributes(element))
        raw["links"].append({**attributes, "rel": "enclosure"})

    def _itunes_image(self, context: Raw, element: Any) -> None:
        _leaf(element)
        attributes = _attributes(element)
        href = attributes.get("href") or attributes.get("url")
        if href:
            context["image"] = {"href": href}

    def _duration(self, raw: Raw, element: Any) -> None:
        raw["itunes_duration"] = _plain(element)

    def _resolved(self, text: str) -> str:
        return urljoin_safely(self.base, text) if text else text
