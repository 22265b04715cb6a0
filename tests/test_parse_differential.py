"""The fast parse path (lxml, `feedhub.parse.fastpath`) against feedparser, the reference.

Over the ugly-feed fixtures, the benchmark corpus and documents hypothesis makes, both
paths give the same `FeedDocument` and the same normalized entries (what reaches the
store). There are no documented differences: where the fast path cannot follow feedparser
it declines, and feedparser reads the document. The tests below also check that the fast
path does read what it is meant to (the corpus, the plain shapes, podcasts), and declines
what it must.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import feedparser.html
import feedparser.urls
import pytest
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import _HTMLSanitizer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import generate, render
from feedhub.core.errors import ParseError
from feedhub.parse import feedparser_rules
from feedhub.parse.document import parse_document
from feedhub.parse.normalize import normalize_entries
from tests.test_fuzz import documents as fuzzed_documents
from tests.test_podcast import podcast

UGLY = Path(__file__).parent / "fixtures" / "ugly"
URL = "https://news.example/feeds/main.xml"
EXAMPLES = settings(
    max_examples=int(os.environ.get("FEEDHUB_DIFFERENTIAL_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def stored(body: bytes, url: str, headers: dict[str, str], *, fast: bool) -> object:
    """What one path makes of a document: the `FeedDocument` (its entries as stated) and
    the entries normalized (what reaches the store), or the error's class and message."""
    try:
        document = parse_document(body, url, headers, fast=fast)
    except ParseError as error:
        return (type(error).__name__, str(error))
    return document, normalize_entries(document.entries)


def assert_same(body: bytes, headers: dict[str, str], url: str = URL) -> None:
    assert stored(body, url, headers, fast=True) == stored(body, url, headers, fast=False)


class Declines(logging.Handler):
    """What `parse_document` says it gave feedparser to read (it says so at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "read by feedparser" in record.getMessage():
            self.messages.append(record.getMessage())


def read_fast(body: bytes, headers: dict[str, str]) -> bool:
    """Whether `parse_document` reads `body` by the fast path (rather than declining it)."""
    logger = logging.getLogger("feedhub.parse.document")
    declines, level = Declines(), logger.level
    logger.addHandler(declines)
    logger.setLevel(logging.DEBUG)
    try:
        with contextlib.suppress(ParseError):
            parse_document(body, URL, headers)
    finally:
        logger.removeHandler(declines)
        logger.setLevel(level)
    return not declines.messages


@pytest.mark.parametrize("case", sorted(path.stem for path in UGLY.glob("*.xml")))
def test_ugly_fixtures_reach_the_store_alike(case: str) -> None:
    headers = json.loads((UGLY / f"{case}.json").read_text()).get("headers", {})
    assert_same((UGLY / f"{case}.xml").read_bytes(), headers)


def test_most_ugly_fixtures_take_the_fast_path() -> None:
    declined = [
        path.stem
        for path in sorted(UGLY.glob("*.xml"))
        if not read_fast(
            path.read_bytes(), json.loads(path.with_suffix(".json").read_text()).get("headers", {})
        )
    ]
    # xml:base in two, XHTML titles in one: feedparser's to read.
    assert declined == ["enclosures-atom", "titles-atom", "unsafe-html"]


def test_benchmark_corpus_reaches_the_store_alike_and_takes_the_fast_path() -> None:
    for feed in generate(30, 20):
        body = render(feed, URL)
        headers = {"content-type": feed.content_type}
        assert read_fast(body, headers), feed.path
        assert_same(body, headers)


def test_the_podcast_of_the_podcast_tests_reaches_the_store_alike_by_the_fast_path() -> None:
    body = podcast('<itunes:image href="https://cdn.podcast.example/ep2.webp"/>')
    assert read_fast(body, {})
    assert_same(body, {})


PODCAST = 'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'
ATOM = 'xmlns:atom="http://www.w3.org/2005/Atom"'
# Shapes easy to read otherwise than feedparser: its state carried from one element to
# the next, or a namespace it would take for an attribute, named where it is no declaration.
SHAPES = {
    "a second summary of the feed is content, till the first entry ends": (
        f'<rss version="2.0" {PODCAST}><channel><title>S</title><itunes:summary>Show'
        "</itunes:summary><description>About</description>"
        "<item><title>1</title><description>D1</description><itunes:summary>I1</itunes:summary>"
        "</item><item><title>2</title><description>D2</description>"
        "<itunes:summary>I2</itunes:summary></item></channel></rss>"
    ),
    "summaries and contents in every order": (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<item><description>A</description><description>&lt;b&gt;B&lt;/b&gt;</description>"
        "<content:encoded>&lt;p&gt;C&lt;/p&gt;</content:encoded><description>D</description>"
        "</item><item><content:encoded>E</content:encoded></item></channel></rss>"
    ),
    "a text author's dictionary takes a later author's parts": (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><author>jane@example.com (Jane)'
        "</author><author><name>Ana</name></author><author><email>b@x.example</email></author>"
        "</entry><entry><author><uri>/a</uri></author><author>Bo</author></entry></feed>"
    ),
    "the channel's title after its image's": (
        '<rss version="2.0"><channel><image><url>/cover.jpg</url><title>Cover</title><link>/'
        "</link></image><title>Feed</title><item><title>E</title>"
        '<enclosure url="/e.mp3" type="audio/mpeg" length="3"/></item></channel></rss>'
    ),
    "covers and artwork in every order": (
        f'<rss version="2.0" {PODCAST}><channel><itunes:image href="/a.jpg"/><image><url>/b.jpg'
        '</url></image><item><enclosure url="/1.mp3"/></item><item><enclosure url="/2.mp3"/>'
        '<itunes:image url="/u.jpg" href="/h.jpg"/></item></channel></rss>'
    ),
    "a hub and a relative self in RSS": (
        f'<rss version="2.0" {ATOM}><channel><title>T</title><atom:link rel="hub" '
        'href="https://hub.example/"/><atom:link rel="Self" href="/feed.xml"/>'
        "<link>https://site.example/</link></channel></rss>"
    ),
    "XLink named in escaped content, declared nowhere": (
        '<rss version="2.0"><channel><ttl>5</ttl><item><description>&lt;svg '
        'xmlns:xlink="http://www.w3.org/1999/xlink"/&gt;</description></item></channel></rss>'
    ),
    "links as text, guids as links": (
        '<rss version="2.0"><channel><item><guid>/g1</guid><link>/a?x=1&amp;amp;y=2</link>'
        '</item><item><link rel="enclosure">/e.mp3</link><guid isPermaLink="false">g2</guid>'
        "</item></channel></rss>"
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_tricky_shapes_reach_the_store_alike_by_the_fast_path(shape: str) -> None:
    body = SHAPES[shape].encode()
    assert read_fast(body, {})
    assert_same(body, {})


# --- documents hypothesis makes ---------------------------------------------

# Text as it stands in a document: escaped, in CDATA, or references and markup.
texts = st.one_of(
    st.text(max_size=40).map(escape),
    st.sampled_from(
        [
            "AT&amp;T &lt;Co&gt;",
            "&lt;b&gt;bold&lt;/b&gt; &amp;amp; more",
            "&lt;p&gt;Para&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;",
            "&lt;foo&gt;x&lt;/foo&gt;",
            "&amp;copy; 2025 &amp;unknown;",
            "<![CDATA[<p>In CDATA</p> & more]]>",
            "a <![CDATA[b]]> c",
            "Caf\u00c3\u00a9 au lait",  # UTF-8 read as Latin-1
            "curly \x93quotes\x94 &#x85;&#128;&#x81;",  # C1 controls, as characters and references
            "bell&#7;less &#1;&#xD800;&#xFFFE;",  # references XML forbids
            "  padded  \n text ",
            "",
        ]
    ),
)
links = st.sampled_from(
    [
        "https://site.example/a?utm_source=x&amp;b=1",
        "/relative/path",
        "relative",
        "../up",
        "//other.example/x",
        "?page=2",
        "mailto:a@b.example",
        "javascript:alert(1)",
        "tag:site.example,2025:1",
        "https://site.example/a&amp;amp;b",
        "https://site.example/caf\u00e9",
        "",
    ]
)
dates = st.sampled_from(
    [
        "Fri, 04 Jul 2025 10:00:00 GMT",
        "Fri, 4 Jul 2025 10:00 +0200",
        "2025-07-04T10:00:00+02:00",
        "2025-07-04",
        "Fri, 04 Jul 2025 10:00:00 CEST",
        "4 July 2025",
        "Friday, July 4th, 2025",
        "9999-99-99",
        "not a date",
        "",
    ]
)
authors = st.sampled_from(
    ["Jane Doe", "jane@example.com (Jane Doe)", "jane@example.com", "Jane &lt;j@x.example&gt;", ""]
)
names = st.sampled_from(
    ["Jane Doe", "Ana &amp; Jo", "\u00c9mile", "\u00c3\u00a9mile", "x\x93y", ""]
)
content_types = st.sampled_from([None, "text", "html", "TEXT", "text/plain", "text/html"])
durations = st.sampled_from(["1:02:03", "62:03", "3723", "95.5", "soon", ""])
rels = st.sampled_from(["", "alternate", "Alternate", "enclosure", "self", "hub", "related"])
link_types = st.sampled_from(["", "text/html", "audio/mpeg", "Audio/MPEG", "application/rss+xml"])


def element(name: str, text: str, kind: str | None = None) -> str:
    """`<name>text</name>`, `text` as it stands in the document."""
    return f"<{name}{f' type={quoteattr(kind)}' if kind else ''}>{text}</{name}>"


def attributes(**values: str) -> str:
    return "".join(f" {name.rstrip('_')}={quoteattr(value)}" for name, value in values.items())


@st.composite
def itunes_images(draw: st.DrawFn) -> str:
    given = draw(st.sampled_from([("href",), ("url",), ("url", "href"), ("href", "url")]))
    return f"<itunes:image{attributes(**{name: draw(links) for name in given})}/>"


@st.composite
def podcast_parts(draw: st.DrawFn) -> list[str]:
    parts = []
    if draw(st.booleans()):
        parts.append(element("itunes:duration", draw(durations)))
    if draw(st.booleans()):
        parts.append(draw(itunes_images()))
    if draw(st.booleans()):
        parts.append(element("itunes:summary", draw(texts)))
    if draw(st.booleans()):
        parts.append(element("itunes:keywords", draw(st.sampled_from(["a, b,,c", " x ", ""]))))
    if draw(st.booleans()):
        parts.append("<itunes:explicit>no</itunes:explicit><itunes:episode>3</itunes:episode>")
    return parts


@st.composite
def links_with_rel(draw: st.DrawFn, name: str) -> str:
    rel, kind = draw(rels), draw(link_types)
    given = {"rel": rel} if rel else {}
    given |= {"type": kind} if kind else {}
    return f"<{name}{attributes(**given, href=draw(links), length='12')}/>"


@st.composite
def rss_item(draw: st.DrawFn, rdf: bool) -> str:
    optional = st.booleans()
    parts = []
    if draw(optional):
        parts.append(element("title", draw(texts), draw(content_types)))
    if draw(optional):
        parts.append(element("link", draw(links)))
    if draw(optional):
        permalink = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
        parts.append(f"<guid{permalink}>{draw(links)}</guid>")
    for name in draw(st.lists(st.sampled_from(["description", "content:encoded"]), max_size=2)):
        parts.append(element(name, draw(texts)))
    for date_name in draw(st.lists(st.sampled_from(["pubDate", "dc:date", "PUBDATE"]))):
        parts.append(element(date_name, draw(dates)))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["author", "dc:creator", "itunes:author"]))
        parts.append(element(name, draw(authors)))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["category", "dc:subject"]))
        domain = draw(st.sampled_from(["", ' domain="http://tags.example/"']))
        parts.append(f"<{name}{domain}>{draw(texts)}</{name}>")
    for _ in range(draw(st.integers(0, 2))):
        kind, length = draw(link_types), draw(st.sampled_from(["12", "x", ""]))
        parts.append(f"<enclosure{attributes(url=draw(links), length=length, type=kind)}/>")
    if draw(st.booleans()):
        parts.append(draw(links_with_rel("link" if rdf else "atom:link")))
    if draw(st.booleans()):
        parts.append("<comments>/c</comments><wfw:commentRss>/r</wfw:commentRss>")
        parts.append("<slash:comments>4</slash:comments>")
    parts += draw(podcast_parts())
    parts = draw(st.permutations(parts))
    about = f" rdf:about={quoteattr(draw(links))}" if rdf and draw(st.booleans()) else ""
    return f"<item{about}>{''.join(parts)}</item>"


@st.composite
def atom_entry(draw: st.DrawFn) -> str:
    optional = st.booleans()
    parts = [draw(links_with_rel("link")) for _ in range(draw(st.integers(0, 2)))]
    if draw(optional):
        parts.append(element("title", draw(texts), draw(content_types)))
    if draw(optional):
        parts.append(element("id", draw(links)))
    if draw(optional):
        parts.append(element("summary", draw(texts), draw(content_types)))
    if draw(optional):
        parts.append(element("content", draw(texts), draw(content_types)))
    for date_name in draw(st.lists(st.sampled_from(["published", "updated"]))):
        parts.append(element(date_name, draw(dates)))
    for _ in range(draw(st.integers(0, 2))):
        inner = [element("name", draw(names))] if draw(st.booleans()) else []
        inner += ["<email>x@example.com</email>"] if draw(st.booleans()) else []
        inner += ["<uri>/people/x</uri>"] if draw(st.booleans()) else []
        parts.append(element("author", "".join(inner) or draw(authors)))
    for _ in range(draw(st.integers(0, 3))):
        label = f" label={quoteattr(draw(texts))}" if draw(st.booleans()) else ""
        parts.append(f"<category term={quoteattr(draw(texts))}{label}/>")
    parts += draw(podcast_parts())
    return f"<entry>{''.join(draw(st.permutations(parts)))}</entry>"


NAMESPACES = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
    'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
    'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
    'xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
)


@st.composite
def feed_parts(draw: st.DrawFn, kind: str) -> list[str]:
    """The feed's own elements but its title, in any order."""
    link = "atom:link" if kind != "atom" else "link"
    parts = [draw(links_with_rel(link)) for _ in range(draw(st.integers(0, 3)))]
    if kind != "atom":
        parts.append(element("link", draw(links)))
    extras = st.sampled_from(
        [
            "<ttl>45</ttl>",
            "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>",
            "<language>en</language>",
            "<description>About</description>",
            "<itunes:summary>Show</itunes:summary>",
            "<itunes:author>Host</itunes:author><itunes:explicit>no</itunes:explicit>",
            "<itunes:owner><itunes:name>O</itunes:name><itunes:email>o@x.example</itunes:email>"
            "</itunes:owner>",
            '<itunes:category text="Tech"><itunes:category text="Gadgets"/></itunes:category>',
            draw(itunes_images()),
            f"<image><url>{draw(links)}</url><title>Cover</title><link>/</link></image>",
        ]
    )
    parts += draw(st.lists(extras, max_size=4, unique=True))
    return list(draw(st.permutations(parts)))


@st.composite
def plain_documents(draw: st.DrawFn) -> bytes:
    """Well-formed RSS 2.0, RSS 1.0 and Atom 1.0 documents in the shapes the fast path reads."""
    kind = draw(st.sampled_from(["rss", "atom", "rdf"]))
    title = element("title", draw(texts))
    own = "".join(draw(feed_parts(kind)))
    if kind == "atom":
        entries = "".join(draw(st.lists(atom_entry(), max_size=4)))
        text = (
            f'<feed xmlns="http://www.w3.org/2005/Atom" {NAMESPACES}>{title}{own}{entries}</feed>'
        )
    elif kind == "rss":
        items = "".join(draw(st.lists(rss_item(rdf=False), max_size=4)))
        channel = f"<channel>{title}{own}{items}</channel>"
        text = f'<rss version="2.0" {NAMESPACES} xmlns:atom="http://www.w3.org/2005/Atom">{channel}</rss>'
    else:
        items = "".join(draw(st.lists(rss_item(rdf=True), max_size=4)))
        text = (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns="http://purl.org/rss/1.0/" {NAMESPACES}>'
            f"<channel>{title}{own.replace('atom:link', 'link')}</channel>{items}</rdf:RDF>"
        )
    declaration = draw(st.sampled_from(['<?xml version="1.0" encoding="utf-8"?>\n', ""]))
    return (declaration + text).encode("utf-8", "surrogatepass")


urls = st.sampled_from(
    [
        URL,
        "https://user:secret@news.example/f.xml?token=abc",
        "https://news.example/feed.xml?",  # which feedparser's base drops the "?" of
        "file:///srv/feed.xml",
    ]
)
served_as = st.sampled_from(
    [{}, {"content-type": "application/rss+xml"}, {"content-type": "text/html"}]
)


@EXAMPLES
@given(body=plain_documents(), url=urls, headers=served_as)
def test_plain_documents_reach_the_store_alike(
    body: bytes, url: str, headers: dict[str, str]
) -> None:
    assert_same(body, headers, url)


@EXAMPLES
@given(body=plain_documents())
def test_plain_documents_take_the_fast_path(body: bytes) -> None:
    assert read_fast(body, {})


# Random trees of the elements and attributes the fast path knows, and a few it does not:
# whatever it reads, it reads as feedparser does.
tree_names = st.sampled_from(
    ["title", "link", "atom:link", "description", "summary", "content", "content:encoded",
     "guid", "id", "pubDate", "updated", "dc:date", "author", "dc:creator", "itunes:author",
     "name", "email", "uri", "category", "itunes:keywords", "enclosure", "itunes:image",
     "itunes:duration", "itunes:summary", "comments", "wfw:commentRss", "image", "url",
     "textInput", "item", "entry", "ttl", "sy:updatePeriod", "language", "contributor",
     "itunes:owner", "itunes:name", "itunes:category", "source", "foo"]
)  # fmt: skip
tree_attributes = st.dictionaries(
    st.sampled_from(["rel", "type", "href", "url", "term", "label", "domain", "isPermaLink",
                     "length", "mode", "text", "rdf:about", "lastmod"]),
    st.sampled_from(["alternate", "self", "hub", "enclosure", "html", "text", "xhtml",
                     "audio/mpeg", "/x", "false", "", "base64"]),
    max_size=3,
)  # fmt: skip


@st.composite
def trees(draw: st.DrawFn, depth: int) -> str:
    name = draw(tree_names)
    given = draw(st.one_of(st.just({}), tree_attributes))
    nested = depth and draw(st.integers(0, 3)) == 0
    inside = "".join(draw(st.lists(trees(depth - 1), max_size=3))) if nested else draw(texts)
    return f"<{name}{attributes(**given)}>{inside}</{name}>"


@st.composite
def tree_documents(draw: st.DrawFn) -> bytes:
    """A feed of random elements, and entries of random elements."""
    entry = "entry" if draw(st.booleans()) else "item"
    entries = [
        f"<{entry}>{''.join(draw(st.lists(trees(2), max_size=6)))}</{entry}>"
        for _ in range(draw(st.integers(0, 3)))
    ]
    inside = "".join(draw(st.permutations([*draw(st.lists(trees(2), max_size=4)), *entries])))
    namespaces = f'{NAMESPACES} {ATOM} xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
    text = draw(
        st.sampled_from(
            [
                f'<rss version="2.0" {namespaces}><channel>{inside}</channel></rss>',
                f'<feed xmlns="http://www.w3.org/2005/Atom" {namespaces}>{inside}</feed>',
            ]
        )
    )
    return text.encode("utf-8", "surrogatepass")


@EXAMPLES
@given(body=tree_documents())
def test_random_trees_reach_the_store_alike(body: bytes) -> None:
    assert_same(body, {})


@EXAMPLES
@given(body=fuzzed_documents())
def test_fuzzed_documents_reach_the_store_alike(body: bytes) -> None:
    """Broken, cut, mis-encoded documents: mostly declined, and alike either way."""
    assert_same(body, {})


@pytest.mark.parametrize(
    ("why", "body"),
    [
        ("ill-formed", b'<rss version="2.0"><channel><item><title>A & B</title></item></channel>'),
        ("cut off", b'<rss version="2.0"><channel><item><title>A</title></item><item><title>B'),
        ("doctype", b'<!DOCTYPE rss [<!ENTITY n "&#160;">]><rss><channel></channel></rss>'),
        ("xml:base", b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/x/"></feed>'),
        ("base", b'<rss><channel><item><comments Base="https://other.example/">c</comments>'
                 b"<link>a</link></item></channel></rss>"),
        ("xlink", b'<rss><channel><ttl xmlns:l="http://www.w3.org/1999/xlink">5</ttl></channel>'
                  b"</rss>"),
        ("atom 0.3", b'<feed xmlns="http://purl.org/atom/ns#"><entry/></feed>'),
        ("unknown element", b'<rss><channel><item><m:x xmlns:m="m"/></item></channel></rss>'),
        ("media rss", b'<rss><channel><item><media:title xmlns:media="http://search.yahoo.com/mrss/">'
                      b"x</media:title></item></channel></rss>"),
        ("unknown attribute", b'<rss><channel><item><enclosure xmlns:m="m" m:url="/a.mp3"/>'
                              b"</item></channel></rss>"),
        ("xhtml", b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml">'
                  b'<div xmlns="http://www.w3.org/1999/xhtml">x</div></content></entry></feed>'),
        ("two titles", b"<rss><channel><item><title>a</title><title>b</title></item></channel>"
                       b"</rss>"),
        ("markup", b"<rss><channel><item><description><p>x</p></description></item></channel>"
                   b"</rss>"),
        ("image title", b"<rss><channel><title>T</title><image><foo/><title>I</title></image>"
                        b"</channel></rss>"),
    ],
)  # fmt: skip
def test_what_the_fast_path_declines_feedparser_reads(why: str, body: bytes) -> None:
    assert not read_fast(body, {}), why
    assert_same(body, {})


def test_an_ill_formed_document_is_malformed_by_either_path() -> None:
    body = b'<rss version="2.0"><channel><item><title>A & B</title></item></channel></rss>'
    document = parse_document(body, URL, {})
    assert document.malformed and document.entries[0].title == "A & B"


# --- feedparser's rules, as copied ------------------------------------------


def test_the_copied_tables_are_feedparsers() -> None:
    assert _HTMLSanitizer.acceptable_elements == feedparser_rules.HTML_ELEMENTS
    assert feedparser.html._cp1252 == feedparser_rules.CP1252
    assert feedparser_rules._URI_FIXER.pattern == feedparser.urls._urifixer.pattern


html_like = st.text(alphabet="<>/&#;ab pxscriptdiv1", max_size=30)


@EXAMPLES
@given(text=st.one_of(html_like, texts))
def test_html_is_guessed_as_feedparser_guesses(text: str) -> None:
    assert feedparser_rules.looks_like_html(text) == bool(_FeedParserMixin.looks_like_html(text))


@EXAMPLES
@given(base=st.sampled_from([URL, "", "http://[x", "tag:a,2025:b"]), link=links)
def test_links_are_joined_as_feedparser_joins_them(base: str, link: str) -> None:
    assert feedparser_rules.urljoin_safely(base, link) == feedparser.urls._urljoin(base, link)


def test_content_types_are_named_as_feedparser_names_them() -> None:
    stated = ["text", "TEXT", "plain", "html", "Html", "xhtml", "text/HTML", "image/png", ""]
    assert [feedparser_rules.map_content_type(kind) for kind in stated] == [
        _FeedParserMixin.map_content_type(kind) for kind in stated
    ]


def test_feedparser_reads_a_document_served_without_a_content_type_as_utf8() -> None:
    body = (UGLY / "served-without-content-type.xml").read_bytes()
    (entry,) = parse_document(body, URL, {}, fast=False).entries
    assert entry.enclosures[0].url == "https://cdn.example/\u00e9pisode-1.mp3"
