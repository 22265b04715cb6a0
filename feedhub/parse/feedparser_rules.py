"""feedparser's small rules, as it has them, for `feedhub.parse.fastpath` to follow.

How feedparser joins a link onto its base, names content types, guesses HTML in text
said to be plain, fixes up every text it hands on, adds a tag and keeps its authors
(the name in "jane@example.com (Jane Doe)" too). Importing any part of feedparser loads all
of it, which a parse worker reading only plain feeds can spare; so these few lines and
tables are copied, and tests/test_parse_differential.py checks that the tables are still
feedparser's. Its date parser is too large to copy: `feedparser_date` imports it.
"""

from __future__ import annotations

import contextlib
import functools
import html.entities
import re
from typing import Any
from urllib.parse import urljoin

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_CONTENT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_CLOSING_TAG_OR_REFERENCE = re.compile(r"</(\w+)>|&#?\w+;")
_TAG_NAME = re.compile(r"</?(\w+)")
_ENTITY_NAME = re.compile(r"&(\w+);")
# The elements feedparser's sanitizer accepts: text naming only these may be HTML.
HTML_ELEMENTS = frozenset(
    ("a", "abbr", "acronym", "address", "area", "article", "aside", "audio", "b", "big",
     "blockquote", "br", "button", "canvas", "caption", "center", "cite", "code", "col",
     "colgroup", "command", "datagrid", "datalist", "dd", "del", "details", "dfn", "dialog",
     "dir", "div", "dl", "dt", "em", "event-source", "fieldset", "figcaption", "figure", "font",
     "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "input",
     "ins", "kbd", "keygen", "label", "legend", "li", "m", "map", "menu", "meter", "multicol",
     "nav", "nextid", "noscript", "ol", "optgroup", "option", "output", "p", "pre", "progress",
     "q", "s", "samp", "section", "select", "small", "sound", "source", "spacer", "span",
     "strike", "strong", "sub", "sup", "table", "tbody", "td", "textarea", "tfoot", "th",
     "thead", "time", "tr", "tt", "u", "ul", "var", "video")
)  # fmt: skip
# What feedparser makes of the C1 controls: the Windows-1252 characters of those bytes.
CP1252 = {
    code: bytes([code]).decode("cp1252")
    for code in range(0x80, 0xA0)
    if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # unassigned in Windows-1252
}
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_EMAIL = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)


@functools.lru_cache(maxsize=1024)  # a pure function; the pair rarely changes in a document
def urljoin_safely(base: str, uri: str) -> str:
    """`feedparser.urls._urljoin`: `uri` resolved against `base`, "" when it cannot be."""
    if ":///" in uri:  # else the fixer finds no slashes to drop (it runs on every link)
        uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urljoin(base, uri)
    except ValueError:
        return ""


def map_content_type(stated: str) -> str:
    """A stated content type ("html", "text", "xhtml" or a media type) as a media type."""
    stated = stated.lower()
    return "application/xhtml+xml" if stated == "xhtml" else _CONTENT_TYPES.get(stated, stated)


def looks_like_html(text: str) -> bool:
    """Whether text said to be plain is HTML: a closing tag or a reference, and only
    elements and entities HTML knows."""
    if ("&" not in text and "</" not in text) or not _CLOSING_TAG_OR_REFERENCE.search(text):
        return False
    if any(name.lower() not in HTML_ELEMENTS for name in _TAG_NAME.findall(text)):
        return False
    return all(name in html.entities.entitydefs for name in _ENTITY_NAME.findall(text))


def fixed(text: str) -> str:
    """feedparser's last touches to every text it pops: UTF-8 read as Latin-1, cp1252."""
    if text.isascii():
        return text  # neither touch changes ASCII
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(CP1252) if _C1_CONTROLS.search(text) else text


def enforce_href(attributes: dict[str, str]) -> dict[str, str]:
    """A link's or enclosure's attributes with its URL (url, uri or href) under "href"."""
    href = attributes.get("url", attributes.get("uri", attributes.get("href")))
    if href:
        attributes.pop("url", None)
        attributes.pop("uri", None)
        attributes["href"] = href
    return attributes


def add_tag(tags: list[dict[str, Any]], term: Any, scheme: Any, label: Any) -> None:
    """Add a tag unless it is empty or there already."""
    if not term and not scheme and not label:
        return
    tag = {"term": term, "scheme": scheme, "label": label}
    if tag not in tags:
        tags.append(tag)


def save_author(context: dict[str, Any], key: str, value: str) -> None:
    """One part (name, email, href) of the author being read into `context`.

    The part also goes into the context's "author_detail", which is the first author's
    own dictionary when that author was text ("jane@example.com (Jane Doe)"): a later
    author's parts are written into the first author as well.
    """
    context.setdefault("author_detail", {})[key] = value
    sync_author(context)
    context["authors"][-1][key] = value


def sync_author(context: dict[str, Any]) -> None:
    """The author text from the last author's parts ("name (email)"), or, when it has
    none, its name and email from the author text."""
    detail = context["authors"][-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name or email:
            context["author"] = f"{name} ({email})" if name and email else name or email
        return
    author = context.get("author")
    if not author:
        return
    found = _EMAIL.search(author) if "@" in author else None
    email = found.group(0) if found else None
    if email:
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        author = author.removeprefix("(").removesuffix(")").strip()
    if author or email:
        context.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def feedparser_date(text: str) -> Any:
    """feedparser's reading of a date (a `time.struct_time` or None); imports feedparser."""
    from feedparser.datetimes import _parse_date

    return _parse_date(text)
