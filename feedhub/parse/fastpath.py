"""Read plain RSS 2.0, RSS 1.0 and Atom 1.0 with lxml into the dictionaries feedparser makes.

feedparser costs about thirty times what lxml does on ordinary feeds. This module
reads the common shapes of the three formats with lxml and builds the same
dictionaries (the keys `feedhub.parse.document` reads: `id`, `link`, `title`,
`title_detail`, `summary`, `summary_detail`, `content`, `authors`, `tags`, `links`,
the dates) with feedparser's own rules for them (guids that are links, content copied
to the summary, HTML guessed in RSS titles, text fixed up as its `pop` does), so that
the `FeedEntry` values built from either are equal (`tests/test_parse_differential.py`).

It declines (raises `Declined`) on everything else, and feedparser reads the document:
a document lxml finds ill-formed (feedparser's loose parser recovers what it can), a
DOCTYPE or `xml:base` anywhere, another root or namespace, an element of an entry it
does not know, XHTML or base64 content, an element that repeats where feedparser's
choice between the copies depends on its parser's state.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from feedhub.parse.dates import parse_date

Raw = dict[str, Any]

_ATOM = "http://www.w3.org/2005/Atom"
_RSS1 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# The namespaces read here, by the prefix feedparser gives their elements.
_PREFIXES = {
    "": "",
    _ATOM: "",
    _RSS1: "",
    "http://backend.userland.com/rss": "",
    "http://purl.org/rss/1.0/modules/content/": "content:",
    "http://purl.org/dc/elements/1.1/": "dc:",
    "http://purl.org/rss/1.0/modules/syndication/": "sy:",
    _RDF: "rdf:",
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
# Elements of a channel or feed that set nothing feedhub reads (their children neither).
_FEED_IGNORED = frozenset(
    {
        "description", "language", "copyright", "managingeditor", "webmaster", "pubdate",
        "lastbuilddate", "category", "generator", "docs", "cloud", "rating", "skiphours",
        "skipdays", "image", "textinput", "items", "subtitle", "updated", "author",
        "icon", "logo", "rights", "contributor", "dc:date", "dc:language", "dc:creator",
        "dc:publisher", "dc:rights", "dc:subject", "sy:updatebase",
    }
)  # fmt: skip
# feedparser's address pattern in an RSS author ("jane@example.com (Jane Doe)").
_EMAIL = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
# feedparser's reading of the C1 controls: the Windows-1252 characters of those bytes.
_CP1252 = {
    code: bytes([code]).decode("cp1252")
    for code in range(0x80, 0xA0)
    if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # unassigned in Windows-1252
}
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
# feedparser's `looks_like_html` calls nothing HTML without a closing tag or an entity.
_MAYBE_HTML = re.compile(r"</(\w+)>|&#?\w+;")
_CONTENT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_LINK_REFERENCE = re.compile(r"&([A-Za-z0-9_]+);")


class Declined(Exception):
    """The fast path does not read this document the way feedparser would: use feedparser."""


def read(body: bytes, base: str) -> tuple[Raw, list[Raw]]:
    """The feed's and its entries' dictionaries, as feedparser makes them; or Declined.

    `body` is UTF-8 (`feedhub.parse.encoding.to_utf8`); `base` is the document's URL.
    """
    if b"<!DOCTYPE" in body or b"<!doctype" in body or b"xml:base" in body:
        raise Declined("a DOCTYPE or xml:base")
    try:
        # A parser per document: lxml parsers must not be shared between threads.
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
        )
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError) as error:
        raise Declined(f"not well formed: {error}") from None
    reader = _Reader(base, atom=root.tag == f"{{{_ATOM}}}feed")
    if reader.atom:
        return reader.feed(root, root), [reader.entry(item) for item in _children(root, "entry")]
    if root.tag == "rss" and [_key(child) for child in root] == ["channel"]:
        channel = root[0]
        return reader.feed(channel, channel), [reader.entry(i) for i in _children(channel, "item")]
    if root.tag == f"{{{_RDF}}}RDF":
        channels = list(_children(root, "channel"))
        if len(channels) == 1 and all(
            _key(child) in ("channel", "item", "image", "textinput") for child in root
        ):
            return reader.feed(channels[0], root), [
                reader.entry(item) for item in _children(root, "item")
            ]
    raise Declined("not RSS 2.0, RSS 1.0 or Atom 1.0")


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
    prefix = _PREFIXES.get(namespace)
    return None if prefix is None else prefix + local.lower()


def _children(parent: Any, key: str) -> Iterator[Any]:
    return (child for child in parent if _key(child) == key)


def _attributes(element: Any) -> dict[str, str]:
    """Attributes by lowercased name (as feedparser gets them); rdf:about keeps its prefix."""
    found = {}
    for name, value in element.attrib.items():
        if name.startswith("{"):
            namespace, _, local = name[1:].partition("}")
            if namespace != _RDF:
                continue
            name = "rdf:" + local
        found[name.lower()] = value
    return found


def _text(element: Any) -> str:
    """An element's text as feedparser's `pop` hands it on (before its own fix-ups)."""
    if len(element):
        raise Declined(f"markup inside <{element.tag}>")
    return (element.text or "").strip()


def _fixed(text: str) -> str:
    """feedparser's last touches to every text it pops: UTF-8 read as Latin-1, cp1252."""
    if text.isascii():
        return text  # neither touch changes ASCII
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_CP1252) if _C1_CONTROLS.search(text) else text


# feedparser's small helpers, as it has them (`feedparser.urls._urljoin`,
# `map_content_type`, the first test of `looks_like_html`): importing any part of
# feedparser loads all of it, which a worker reading only plain feeds can spare.


@functools.lru_cache(maxsize=1024)  # a pure function; the pair rarely changes in a document
def _urljoin(base: str, uri: str) -> str:
    uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urljoin(base, uri)
    except ValueError:
        return ""


def _map_content_type(stated: str) -> str:
    stated = stated.lower()
    return "application/xhtml+xml" if stated == "xhtml" else _CONTENT_TYPES.get(stated, stated)


def _looks_like_html(text: str) -> bool:
    if not _MAYBE_HTML.search(text):
        return False
    from feedparser.mixin import _FeedParserMixin

    return bool(_FeedParserMixin.looks_like_html(text))


def _feedparser_date(text: str) -> Any:
    from feedparser.datetimes import _parse_date

    return _parse_date(text)


class _Reader:
    """One document's reading: its URL (every relative link's base) and its format."""

    def __init__(self, base: str, *, atom: bool) -> None:
        self.base = base
        self.atom = atom
        self.handlers = self._handlers()

    def feed(self, channel: Any, items_parent: Any) -> Raw:
        feed: Raw = {}
        seen: set[str] = set()
        for child in channel:
            key = _key(child)
            if key in ("item", "entry") and channel is items_parent:
                continue
            if key in _FEED_IGNORED:
                continue
            if key in seen and key != "link":
                raise Declined(f"<{key}> twice in the feed")
            seen.add(key)
            if key == "title":
                self._content_type(child, "text/plain")
                feed["title"] = _fixed(_text(child))
            elif key == "link":
                self._feed_link(feed, child)
            elif key in ("id", "guid"):
                self._guid(feed, child)
            elif key in ("ttl", "sy:updateperiod", "sy:updatefrequency"):
                feed[key.replace(":", "_")] = _fixed(_text(child))
            else:
                raise Declined(f"<{key}> in the feed")
        return feed

    def _feed_link(self, feed: Raw, element: Any) -> None:
        attributes = _attributes(element)
        href = _href(attributes)
        if href is not None:
            if self._is_alternate(attributes):
                feed["link"] = _urljoin(self.base, href)
            return
        link = _fixed(self._resolved(_text(element)))
        feed["link"] = _LINK_REFERENCE.sub(r"&\g<1>", link)

    def entry(self, item: Any) -> Raw:
        raw: Raw = {"links": [], "tags": [], "authors": []}
        about = _attributes(item).get("rdf:about")
        if about:
            raw["id"] = about
        seen: set[str] = set()
        for child in item:
            key = _key(child)
            handler = self.handlers.get(key)
            if handler is None:
                raise Declined(f"<{key}> in an entry")
            if key in seen and key not in _REPEATABLE:
                raise Declined(f"<{key}> twice in an entry")
            seen.add(key)
            handler(raw, child)
        if "content" in raw and "summary" not in raw:
            # feedparser copies text or HTML content to a summary the entry lacks.
            raw["summary"] = raw["content"][0]["value"]
        for name in ("published", "updated"):
            if name in raw and parse_date(raw[name]) is None:
                # feedhub.parse.document falls back on feedparser's reading of a date
                # only when its own finds none; spare the call otherwise.
                raw[f"{name}_parsed"] = _feedparser_date(raw[name])
        return raw

    def _handlers(self) -> dict[str, Callable[[Raw, Any], None]]:
        return {
            "title": self._title,
            "link": self._link,
            "description": self._summary,
            "summary": self._summary,
            "content:encoded": self._content,
            "content": self._content,
            "guid": self._guid,
            "id": self._guid,
            "pubdate": self._date("published"),
            "published": self._date("published"),
            "updated": self._date("updated"),
            "dc:date": self._date("updated"),
            "author": self._author,
            "dc:creator": self._author,
            "category": self._category,
            "dc:subject": self._category,
            "enclosure": self._enclosure,
            "comments": _ignore,
        }

    def _content_type(self, element: Any, default: str) -> str:
        attributes = _attributes(element)
        if "mode" in attributes or "src" in attributes:
            raise Declined("content by mode or src")
        stated = _map_content_type(attributes.get("type", default))
        if stated not in _TEXT_TYPES:
            raise Declined(f"content of type {stated}")
        return str(stated)

    def _detail(self, element: Any, default: str) -> tuple[str, dict[str, str]]:
        """An element's text and feedparser's detail of it (type and base)."""
        kind = self._content_type(element, default)
        text = _text(element)
        if not self.atom and kind == "text/plain" and _looks_like_html(text):
            kind = "text/html"
        return _fixed(text), {"type": kind, "base": self.base}

    def _title(self, raw: Raw, element: Any) -> None:
        raw["title"], raw["title_detail"] = self._detail(element, "text/plain")

    def _summary(self, raw: Raw, element: Any) -> None:
        default = "text/plain" if self.atom else "text/html"
        raw["summary"], raw["summary_detail"] = self._detail(element, default)

    def _content(self, raw: Raw, element: Any) -> None:
        if "content" in raw:
            raise Declined("two contents in an entry")
        value, detail = self._detail(element, "text/plain" if self.atom else "text/html")
        raw["content"] = [{**detail, "value": value}]

    def _guid(self, raw: Raw, element: Any) -> None:
        is_link = _attributes(element).get("ispermalink", "true") == "true"
        text = _text(element)
        value = _fixed(self._resolved(text) if is_link and text else text)
        raw["id"] = value
        if is_link:
            raw.setdefault("link", value)

    def _link(self, raw: Raw, element: Any) -> None:
        attributes = _attributes(element)
        href = _href(attributes)
        if href is None:
            link = _fixed(self._resolved(_text(element))).replace("&amp;", "&")
            raw["link"] = _LINK_REFERENCE.sub(r"&\g<1>", link)
            return
        href = _urljoin(self.base, href)
        if attributes.get("rel", "alternate") == "enclosure":
            raw["links"].append({**attributes, "rel": "enclosure", "href": href})
        elif self._is_alternate(attributes):
            raw["link"] = href

    def _is_alternate(self, attributes: dict[str, str]) -> bool:
        rel = attributes.get("rel", "alternate")
        kind = attributes.get("type", "application/atom+xml" if rel == "self" else "text/html")
        return rel == "alternate" and _map_content_type(kind) in _HTML_TYPES

    def _date(self, name: str) -> Callable[[Raw, Any], None]:
        def store(raw: Raw, element: Any) -> None:
            raw[name] = _fixed(_text(element))

        return store

    def _author(self, raw: Raw, element: Any) -> None:
        if self.atom and _key(element) == "author":
            names = [_fixed(_text(child)) for child in element if _key(child) == "name"]
            if len(names) != 1 or not names[0] or len(element) > 3:
                raise Declined("an Atom author without one name")
            if any(_key(child) not in ("name", "email", "uri") for child in element):
                raise Declined("an Atom author with other elements")
            raw["authors"].append({"name": names[0]})
            return
        text = _fixed(_text(element))
        raw["author"] = text
        name = _rss_author_name(text)
        raw["authors"].append({"name": name} if name else {})

    def _category(self, raw: Raw, element: Any) -> None:
        attributes = _attributes(element)
        tags = raw["tags"]
        _add_tag(
            tags,
            attributes.get("term"),
            attributes.get("scheme", attributes.get("domain")),
            attributes.get("label"),
        )
        value = _fixed(_text(element))
        if value and tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        elif value:
            _add_tag(tags, value, None, None)

    def _enclosure(self, raw: Raw, element: Any) -> None:
        attributes = _attributes(element)
        href = _href(attributes)
        raw["links"].append({**attributes, "rel": "enclosure", "href": href})

    def _resolved(self, text: str) -> str:
        return _urljoin(self.base, text) if text else text


_REPEATABLE = frozenset({"link", "author", "dc:creator", "category", "dc:subject", "enclosure"})


def _href(attributes: dict[str, str]) -> str | None:
    """The link of a link or enclosure element, as feedparser's `_enforce_href` finds it."""
    return attributes.get("url", attributes.get("uri", attributes.get("href"))) or attributes.get(
        "href"
    )


def _ignore(raw: Raw, element: Any) -> None:
    """An element feedhub reads nothing from."""


def _add_tag(tags: list[dict[str, Any]], term: Any, scheme: Any, label: Any) -> None:
    if not term and not scheme and not label:
        return
    tag = {"term": term, "scheme": scheme, "label": label}
    if tag not in tags:
        tags.append(tag)


def _rss_author_name(author: str) -> str:
    """The name in an RSS author ("jane@example.com (Jane Doe)"), as feedparser takes it."""
    if not author:
        return ""
    email = _EMAIL.search(author)
    if email:
        author = author.replace(email.group(0), "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        author = author.removeprefix("(").removesuffix(")").strip()
    return author
