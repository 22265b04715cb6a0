"""The fast parse path (lxml, `feedhub.parse.fastpath`) against feedparser, the reference.

Over the ugly-feed fixtures, the benchmark corpus and documents hypothesis makes,
both paths must give the same document fields and the same normalized entries
(what reaches the store). There are no documented differences: where the fast path
cannot follow feedparser it declines, and feedparser reads the document; the tests
below also check that it does read what it is meant to (the corpus, the plain shapes).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import generate, render
from feedhub.core.errors import ParseError
from feedhub.core.models import EntryToStore, FeedDocument
from feedhub.parse import fastpath
from feedhub.parse.document import parse_document
from feedhub.parse.encoding import to_utf8
from feedhub.parse.normalize import normalize_entry
from tests.test_fuzz import documents as fuzzed_documents

UGLY = Path(__file__).parent / "fixtures" / "ugly"
URL = "https://news.example/feeds/main.xml"
EXAMPLES = settings(
    max_examples=int(os.environ.get("FEEDHUB_DIFFERENTIAL_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def stored(body: bytes, headers: dict[str, str], *, fast: bool) -> object:
    """What reaches the store by one path: the document's fields and normalized entries,
    or the error's class and message."""
    try:
        document = parse_document(body, URL, headers, fast=fast)
    except ParseError as error:
        return (type(error).__name__, str(error))
    entries: list[EntryToStore] = [normalize_entry(entry) for entry in document.entries]
    return dataclasses.replace(document, entries=()), entries


def assert_same(body: bytes, headers: dict[str, str]) -> None:
    assert stored(body, headers, fast=True) == stored(body, headers, fast=False)


def read_fast(body: bytes, headers: dict[str, str]) -> bool:
    """Whether the fast path reads `body` (rather than declining it)."""
    try:
        fastpath.read(to_utf8(body, headers.get("content-type")), URL)
    except fastpath.Declined:
        return False
    return True


@pytest.mark.parametrize("case", sorted(path.stem for path in UGLY.glob("*.xml")))
def test_ugly_fixtures_reach_the_store_alike(case: str) -> None:
    headers = json.loads((UGLY / f"{case}.json").read_text()).get("headers", {})
    assert_same((UGLY / f"{case}.xml").read_bytes(), headers)


def test_benchmark_corpus_reaches_the_store_alike_and_takes_the_fast_path() -> None:
    for feed in generate(30, 20):
        body = render(feed, URL)
        headers = {"content-type": feed.content_type}
        assert read_fast(body, headers), feed.path
        assert_same(body, headers)


def test_a_document_read_fast_is_the_same_typed_document() -> None:
    body = render(generate(1, 5)[0], URL)
    fast = parse_document(body, URL, {}, fast=True)
    reference = parse_document(body, URL, {}, fast=False)
    assert isinstance(fast, FeedDocument)
    assert fast == reference


# --- documents hypothesis makes ---------------------------------------------

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "AT&T <Co>",
            "<b>bold</b> &amp; more",
            "&lt;p&gt;escaped&lt;/p&gt;",
            "Caf\u00c3\u00a9 au lait",  # UTF-8 read as Latin-1
            "curly \x93quotes\x94",  # cp1252 bytes as C1 controls
            "  padded  \n text ",
            "&copy; 2025 &unknown;",
            "<p>Para</p><script>x()</script>",
            "",
        ]
    ),
)
links = st.sampled_from(
    [
        "https://site.example/a?utm_source=x&b=1",
        "/relative/path",
        "relative",
        "//other.example/x",
        "mailto:a@b.example",
        "javascript:alert(1)",
        "tag:site.example,2025:1",
        "https://site.example/a&amp;b",
        "",
    ]
)
dates = st.sampled_from(
    [
        "Fri, 04 Jul 2025 10:00:00 GMT",
        "2025-07-04T10:00:00+02:00",
        "Fri, 04 Jul 2025 10:00:00 CEST",
        "4 July 2025",
        "9999-99-99",
        "not a date",
        "",
    ]
)
authors = st.sampled_from(
    ["Jane Doe", "jane@example.com (Jane Doe)", "jane@example.com", "Jane <jane@example.com>", ""]
)
content_types = st.sampled_from([None, "text", "html", "TEXT", "text/plain", "text/html"])


def text_element(name: str, value: str, *, kind: str | None = None, cdata: bool = False) -> str:
    attribute = f" type={quoteattr(kind)}" if kind else ""
    if cdata and "]]>" not in value:
        return f"<{name}{attribute}><![CDATA[{value}]]></{name}>"
    return f"<{name}{attribute}>{escape(value)}</{name}>"


@st.composite
def rss_item(draw: st.DrawFn, rdf: bool) -> str:
    parts = []
    optional = st.booleans()
    if draw(optional):
        parts.append(text_element("title", draw(texts), kind=draw(content_types)))
    if draw(optional):
        parts.append(text_element("link", draw(links)))
    if draw(optional):
        permalink = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
        parts.append(f"<guid{permalink}>{escape(draw(links))}</guid>")
    if draw(optional):
        parts.append(text_element("description", draw(texts), cdata=draw(st.booleans())))
    if draw(optional):
        parts.append(text_element("content:encoded", draw(texts), cdata=draw(st.booleans())))
    for date_name in draw(st.lists(st.sampled_from(["pubDate", "dc:date"]), unique=True)):
        parts.append(text_element(date_name, draw(dates)))
    for _ in range(draw(st.integers(0, 2))):
        parts.append(text_element(draw(st.sampled_from(["author", "dc:creator"])), draw(authors)))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["category", "dc:subject"]))
        domain = draw(st.sampled_from(["", ' domain="http://tags.example/"']))
        parts.append(f"<{name}{domain}>{escape(draw(texts))}</{name}>")
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["audio/mpeg", "text/html", ""]))
        length = quoteattr(draw(st.sampled_from(["12", "x", ""])))
        url = quoteattr(draw(links))
        parts.append(f"<enclosure url={url} length={length} type={quoteattr(kind)}/>")
    if draw(st.booleans()):
        parts.append('<atom:link rel="enclosure" href="/media/a.mp3" length="5"/>')
    parts = draw(st.permutations(parts))
    about = f" rdf:about={quoteattr(draw(links))}" if rdf and draw(st.booleans()) else ""
    return f"<item{about}>{''.join(parts)}</item>"


@st.composite
def atom_entry(draw: st.DrawFn) -> str:
    parts = []
    optional = st.booleans()
    if draw(optional):
        parts.append(text_element("title", draw(texts), kind=draw(content_types)))
    for _ in range(draw(st.integers(0, 2))):
        rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="enclosure"', ' rel="self"']))
        kind = draw(st.sampled_from(["", ' type="text/html"', ' type="audio/mpeg"']))
        parts.append(f"<link{rel}{kind} href={quoteattr(draw(links))}/>")
    if draw(optional):
        parts.append(text_element("id", draw(links)))
    if draw(optional):
        parts.append(text_element("summary", draw(texts), kind=draw(content_types)))
    if draw(optional):
        parts.append(text_element("content", draw(texts), kind=draw(content_types)))
    for date_name in draw(st.lists(st.sampled_from(["published", "updated"]), unique=True)):
        parts.append(text_element(date_name, draw(dates)))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["Jane Doe", "Ana & Jo", "Émile"]))
        email = "<email>x@example.com</email>" if draw(st.booleans()) else ""
        parts.append(f"<author><name>{escape(name)}</name>{email}</author>")
    for _ in range(draw(st.integers(0, 3))):
        term = quoteattr(draw(texts))
        label = f" label={quoteattr(draw(texts))}" if draw(st.booleans()) else ""
        parts.append(f"<category term={term}{label}/>")
    parts = draw(st.permutations(parts))
    return f"<entry>{''.join(parts)}</entry>"


NAMESPACES = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
    'xmlns:atom="http://www.w3.org/2005/Atom"'
)


@st.composite
def plain_documents(draw: st.DrawFn) -> bytes:
    """Well-formed RSS 2.0, RSS 1.0 and Atom 1.0 documents in the shapes the fast path reads."""
    kind = draw(st.sampled_from(["rss", "atom", "rdf"]))
    title = text_element("title", draw(texts))
    link = text_element("link", draw(links))
    extra = draw(
        st.sampled_from(
            ["", "<ttl>45</ttl>", "<sy:updatePeriod>daily</sy:updatePeriod>"
             "<sy:updateFrequency>4</sy:updateFrequency>", "<language>en</language>"]
        )
    )  # fmt: skip
    if kind == "atom":
        entries = "".join(draw(st.lists(atom_entry(), max_size=4)))
        alternate = f'<link rel="alternate" href={quoteattr(draw(links))}/>'
        text = f'<feed xmlns="http://www.w3.org/2005/Atom">{title}{alternate}{entries}</feed>'
    elif kind == "rss":
        items = "".join(draw(st.lists(rss_item(rdf=False), max_size=4)))
        channel = f"<channel>{title}{link}{extra}{items}</channel>"
        text = f'<rss version="2.0" {NAMESPACES}>{channel}</rss>'
    else:
        items = "".join(draw(st.lists(rss_item(rdf=True), max_size=4)))
        text = (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns="http://purl.org/rss/1.0/" {NAMESPACES}>'
            f"<channel>{title}{link}{extra}</channel>{items}</rdf:RDF>"
        )
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + text).encode("utf-8", "surrogatepass")


@EXAMPLES
@given(body=plain_documents())
def test_plain_documents_reach_the_store_alike(body: bytes) -> None:
    assert_same(body, {"content-type": "application/xml"})


@EXAMPLES
@given(body=plain_documents())
def test_plain_documents_take_the_fast_path(body: bytes) -> None:
    assert read_fast(body, {}) or b"\xed" in body  # lone surrogates are not XML


@EXAMPLES
@given(body=fuzzed_documents())
def test_fuzzed_documents_reach_the_store_alike(body: bytes) -> None:
    """Broken, cut, mis-encoded documents: mostly declined, and alike either way."""
    assert_same(body, {})


@pytest.mark.parametrize(
    ("why", "body"),
    [
        ("ill-formed", b'<rss version="2.0"><channel><item><title>A & B</title></item></channel>'),
        ("doctype", b'<!DOCTYPE rss [<!ENTITY n "&#160;">]><rss><channel></channel></rss>'),
        ("xml:base", b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/x/"></feed>'),
        ("atom 0.3", b'<feed xmlns="http://purl.org/atom/ns#"><entry/></feed>'),
        ("unknown element", b'<rss><channel><item><m:x xmlns:m="m"/></item></channel></rss>'),
        ("xhtml", b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml">'
                  b'<div xmlns="http://www.w3.org/1999/xhtml">x</div></content></entry></feed>'),
        ("twice", b"<rss><channel><item><title>a</title><title>b</title></item></channel></rss>"),
        ("markup", b"<rss><channel><item><description><p>x</p></description></item></channel>"
                   b"</rss>"),
        ("json", b'{"version": "https://jsonfeed.org/version/1.1", "items": []}'),
    ],
)  # fmt: skip
def test_what_the_fast_path_declines_feedparser_reads(why: str, body: bytes) -> None:
    assert not read_fast(body, {}), why
    assert_same(body, {})
