"""Generates the deterministic benchmark corpus: N feeds x M entries rendered to feed bytes.

About 60% of the feeds are RSS 2.0, 30% Atom 1.0 and 10% RSS 1.0 (RDF). Entries carry
1-3 KB HTML bodies (paragraphs, links, one image), one to three category labels out of
twenty, an audio/mpeg enclosure on some, no date on some. About 10% of the distinct
articles are syndicated by 2-3 feeds: same link, a guid of each feed's own.
Everything follows from the seed, so two runs serve the same bytes.

`python -m benchmarks.corpus --feeds 200 --entries 50` writes the feeds to
`benchmarks/_work/corpus/` to look at.
"""

from __future__ import annotations

import argparse
import itertools
import random
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

LABELS = (
    "Defense & Security",
    "World",
    "Technology",
    "Science",
    "Business",
    "Politics",
    "Health",
    "Climate",
    "Sports",
    "Culture",
    "Education",
    "Energy",
    "Finance",
    "Law & Justice",
    "Space",
    "Transport",
    "Food & Drink",
    "Travel",
    "Opinion",
    "Local News",
)

KINDS = ("rss2", "atom", "rss1")
KIND_SHARES = {"rss2": 0.6, "atom": 0.3, "rss1": 0.1}
CONTENT_TYPES = {
    "rss2": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "rss1": "application/rdf+xml; charset=utf-8",
}
BASE_TIME = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SYNDICATED_SHARE = 0.10
UNDATED_SHARE = 0.05
ENCLOSURE_SHARE = 0.15
NO_GUID_SHARE = 0.02

_WORD_TEXT = (
    "the of and to in is that for on with as by at from this be are was it an or have which "
    "has not but were their they been more will would other its one about than into after "
    "government report market energy research policy minister company network system data "
    "security analysis council project study economy climate budget program officials "
    "agency industry experts service treaty election technology software hardware satellite "
    "mission launch vaccine hospital school university court ruling investment bank growth "
    "inflation trade export import harbor railway airport bridge river forest coast storm "
    "village city region province border summit delegation agreement proposal committee "
    "survey sample evidence quarterly annual record decline increase forecast estimate "
    "schedule delay upgrade release version update protocol standard framework platform"
)
_WORDS = tuple(_WORD_TEXT.split())
_NAMES = (
    "Ana Silva",
    "Bo Chen",
    "Chloe Martin",
    "Dev Patel",
    "Emma Jones",
    "Farid Haddad",
    "Greta Berg",
    "Hiro Sato",
    "Ines Duarte",
    "Jon Okafor",
    "Kim Novak",
    "Lena Vogel",
)


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A podcast-style attachment."""

    url: str
    length: int
    type: str = "audio/mpeg"


@dataclass(frozen=True, slots=True)
class Article:
    """One article; a syndicated one appears in several feeds with the same link."""

    key: str
    link: str
    title: str
    summary: str
    html: str
    labels: tuple[str, ...]
    when: datetime  # orders the feed; published only when `dated`
    dated: bool
    author: str
    enclosure: Enclosure | None


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed of the corpus, its articles newest first."""

    index: int
    kind: str
    title: str
    link: str
    description: str
    ttl: int | None
    full_in_description: bool  # RSS: whole body in <description> instead of content:encoded
    articles: tuple[Article, ...]

    @property
    def path(self) -> str:
        """The URL path the benchmark server serves this feed at."""
        return f"/feed-{self.index:05d}.xml"

    @property
    def content_type(self) -> str:
        """The Content-Type header for this feed's format."""
        return CONTENT_TYPES[self.kind]

    @property
    def modified(self) -> datetime:
        """When the feed last changed: its newest article."""
        return max(article.when for article in self.articles)

    def guid(self, article: Article) -> str | None:
        """This feed's own id for an article; None for the few RSS items without a guid."""
        if self.kind == "atom":
            return f"tag:site-{self.index}.example,2024:{article.key}"
        if self.kind == "rss2" and _no_guid(article.key):
            return None
        return f"https://site-{self.index}.example/guid/{article.key}"


def generate(n_feeds: int, n_entries: int, seed: int = 8) -> list[Feed]:
    """The corpus: `n_feeds` feeds of `n_entries` entries each, the same for the same seed."""
    rng = random.Random(seed)
    keys = (f"a{n:07d}" for n in itertools.count())
    kinds = _kinds(n_feeds, rng)
    shared = _syndicated(n_feeds, n_entries, rng, keys)
    return [
        _feed(index, kinds[index], shared.get(index, []), n_entries, rng, keys)
        for index in range(n_feeds)
    ]


def with_new_entries(feed: Feed, count: int, generation: int = 1) -> Feed:
    """The same feed after `count` new articles were published; the window keeps its size."""
    rng = random.Random(f"{feed.index}/{generation}")
    newest = feed.modified
    fresh = [
        replace(
            _article(rng, f"c{feed.index}g{generation}n{n}", feed.index),
            when=newest + timedelta(minutes=10 * (count - n)),
            dated=True,
        )
        for n in range(count)
    ]
    kept = feed.articles[: max(len(feed.articles) - count, 0)]
    return replace(feed, articles=(*fresh, *kept))


def changed_indexes(n_feeds: int, fraction: float, seed: int = 8) -> list[int]:
    """Which feeds change in the "some feeds changed" scenario (at least one)."""
    count = max(1, round(n_feeds * fraction))
    return sorted(random.Random(f"changed/{seed}").sample(range(n_feeds), min(count, n_feeds)))


def render(feed: Feed, self_url: str) -> bytes:
    """The feed's document bytes (UTF-8 XML) as served from `self_url`."""
    renderer = {"rss2": _rss2, "atom": _atom, "rss1": _rss1}[feed.kind]
    return "".join(renderer(feed, self_url)).encode("utf-8")


def write_corpus(feeds: Sequence[Feed], folder: Path, base_url: str) -> int:
    """Write each feed to `folder` as served under `base_url`; returns the total size."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for feed in feeds:
        body = render(feed, base_url.rstrip("/") + feed.path)
        (folder / feed.path.lstrip("/")).write_bytes(body)
        total += len(body)
    return total


# --- generation --------------------------------------------------------------


def _kinds(n_feeds: int, rng: random.Random) -> list[str]:
    counts = {kind: round(n_feeds * share) for kind, share in KIND_SHARES.items()}
    counts["rss2"] = n_feeds - counts["atom"] - counts["rss1"]
    kinds = [kind for kind in KINDS for _ in range(counts[kind])]
    rng.shuffle(kinds)
    return kinds


def _syndicated(
    n_feeds: int, n_entries: int, rng: random.Random, keys: Iterator[str]
) -> dict[int, list[Article]]:
    """Articles carried by 2-3 feeds, by feed index.

    With a share s of distinct articles syndicated by 2.5 feeds on average, the
    corpus holds N*M / (1 + 1.5 s) distinct articles.
    """
    if n_feeds < 2:
        return {}
    distinct = n_feeds * n_entries / (1 + 1.5 * SYNDICATED_SHARE)
    shared: dict[int, list[Article]] = {}
    for _ in range(round(distinct * SYNDICATED_SHARE)):
        carriers = rng.sample(range(n_feeds), min(rng.choice((2, 3)), n_feeds))
        article = _article(rng, next(keys), carriers[0])
        for index in carriers:
            if len(shared.setdefault(index, [])) < n_entries // 2:
                shared[index].append(article)
    return shared


def _feed(
    index: int,
    kind: str,
    shared: list[Article],
    n_entries: int,
    rng: random.Random,
    keys: Iterator[str],
) -> Feed:
    own = [_article(rng, next(keys), index) for _ in range(n_entries - len(shared))]
    articles = sorted([*own, *shared], key=lambda article: article.when, reverse=True)
    topic = LABELS[index % len(LABELS)]
    return Feed(
        index=index,
        kind=kind,
        title=f"{topic} Daily #{index}" if index % 7 else f"{topic} & More #{index}",
        link=f"https://site-{index}.example/",
        description=f"News about {topic.lower()} from site {index}.",
        ttl=rng.choice((None, None, 30, 60, 120)),
        full_in_description=rng.random() < 0.5,
        articles=tuple(articles),
    )


def _article(rng: random.Random, key: str, home: int) -> Article:
    labels = tuple(rng.sample(LABELS, rng.choice((1, 1, 2, 3))))
    title = _sentence(rng, 5, 11).rstrip(".")
    if rng.random() < 0.05:
        title += " & <Co>"
    slug = "-".join(title.lower().split()[:5]).replace("&", "and").replace("<", "").replace(">", "")
    when = BASE_TIME - timedelta(seconds=rng.randrange(60 * 24 * 3600))
    link = f"https://site-{home}.example/{when:%Y/%m}/{slug}-{key}"
    html, summary = _body(rng, home, key)
    enclosure = None
    if rng.random() < ENCLOSURE_SHARE:
        enclosure = Enclosure(
            f"https://media.site-{home}.example/{key}.mp3", rng.randrange(2_000_000, 90_000_000)
        )
    return Article(
        key=key,
        link=link,
        title=title,
        summary=summary,
        html=html,
        labels=labels,
        when=when,
        dated=rng.random() >= UNDATED_SHARE,
        author=rng.choice(_NAMES),
        enclosure=enclosure,
    )


def _body(rng: random.Random, home: int, key: str) -> tuple[str, str]:
    """A 1-3 KB HTML body and a plain-text summary of it."""
    target = rng.randrange(1000, 3000)
    first = _sentences(rng, 3)
    parts = [
        f"<p>{escape(first)}</p>",
        f'<figure><img src="https://cdn.site-{home}.example/img/{key}.jpg" '
        f'alt="{escape(_sentence(rng, 3, 6))}" width="640" height="360"></figure>',
    ]
    size = sum(map(len, parts))
    while size < target:
        part = _paragraph(rng, home)
        parts.append(part)
        size += len(part)
    return "\n".join(parts), first[:200]


def _paragraph(rng: random.Random, home: int) -> str:
    text = escape(_sentences(rng, rng.randrange(2, 5)))
    roll = rng.random()
    if roll < 0.4:
        word = rng.choice(_WORDS)
        link = f'<a href="https://ref-{rng.randrange(50)}.example/{word}">{word}</a>'
        return f"<p>{text} See {link}.</p>"
    if roll < 0.5:
        return f'<p>{text} More in <a href="/topics/{rng.choice(_WORDS)}">our archive</a>.</p>'
    if roll < 0.6:
        items = "".join(f"<li>{escape(_sentence(rng, 3, 8))}</li>" for _ in range(3))
        return f"<p><strong>{escape(_sentence(rng, 2, 4))}</strong></p><ul>{items}</ul>"
    return f"<p>{text}</p>"


def _sentences(rng: random.Random, count: int) -> str:
    return " ".join(_sentence(rng, 8, 22) for _ in range(count))


def _sentence(rng: random.Random, shortest: int, longest: int) -> str:
    words = rng.choices(_WORDS, k=rng.randrange(shortest, longest))
    return " ".join(words).capitalize() + "."


def _no_guid(key: str) -> bool:
    return zlib.crc32(key.encode()) % round(1 / NO_GUID_SHARE) == 0


# --- rendering ---------------------------------------------------------------


def _text(tag: str, value: str, attrs: str = "") -> str:
    return f"<{tag}{attrs}>{escape(value)}</{tag}>"


def _rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rss2(feed: Feed, self_url: str) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="utf-8"?>\n'
    yield (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
    )
    yield _text("title", feed.title) + _text("link", feed.link)
    yield _text("description", feed.description) + "<language>en</language>\n"
    yield f'<atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>\n'
    yield _text("lastBuildDate", _rfc822(feed.modified)) + "\n"
    if feed.ttl is not None:
        yield f"<ttl>{feed.ttl}</ttl>\n"
    for article in feed.articles:
        yield from _rss2_item(feed, article)
    yield "</channel>\n</rss>\n"


def _rss2_item(feed: Feed, article: Article) -> Iterator[str]:
    yield "<item>" + _text("title", article.title) + _text("link", article.link)
    guid = feed.guid(article)
    if guid is not None:
        yield _text("guid", guid, ' isPermaLink="false"')
    if article.dated:
        yield _text("pubDate", _rfc822(article.when))
    yield _text("dc:creator", article.author)
    yield "".join(_text("category", label) for label in article.labels)
    if feed.full_in_description:
        yield _text("description", article.html)
    else:
        yield _text("description", article.summary)
        yield f"<content:encoded><![CDATA[{article.html}]]></content:encoded>"
    if article.enclosure is not None:
        enc = article.enclosure
        yield (
            f'<enclosure url={quoteattr(enc.url)} length="{enc.length}" '
            f"type={quoteattr(enc.type)}/>"
        )
    yield "</item>\n"


def _atom(feed: Feed, self_url: str) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="utf-8"?>\n'
    yield '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">\n'
    yield _text("id", f"tag:site-{feed.index}.example,2024:feed")
    yield _text("title", feed.title) + _text("subtitle", feed.description)
    yield _text("updated", _iso(feed.modified))
    yield f'<link rel="self" type="application/atom+xml" href={quoteattr(self_url)}/>'
    yield f'<link rel="alternate" type="text/html" href={quoteattr(feed.link)}/>\n'
    yield f"<author>{_text('name', f'Desk {feed.index}')}</author>\n"
    for article in feed.articles:
        yield from _atom_entry(feed, article)
    yield "</feed>\n"


def _atom_entry(feed: Feed, article: Article) -> Iterator[str]:
    yield "<entry>" + _text("id", feed.guid(article) or article.link)
    yield _text("title", article.title)
    yield f'<link rel="alternate" type="text/html" href={quoteattr(article.link)}/>'
    if article.dated:
        yield _text("published", _iso(article.when)) + _text("updated", _iso(article.when))
    yield f"<author>{_text('name', article.author)}</author>"
    yield "".join(f"<category term={quoteattr(label)}/>" for label in article.labels)
    yield _text("summary", article.summary)
    yield _text("content", article.html, ' type="html"')
    if article.enclosure is not None:
        enc = article.enclosure
        yield (
            f'<link rel="enclosure" type={quoteattr(enc.type)} length="{enc.length}" '
            f"href={quoteattr(enc.url)}/>"
        )
    yield "</entry>\n"


def _rss1(feed: Feed, self_url: str) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="utf-8"?>\n'
    yield (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
    )
    yield f"<channel rdf:about={quoteattr(self_url)}>"
    yield _text("title", feed.title) + _text("link", feed.link)
    yield _text("description", feed.description) + _text("dc:date", _iso(feed.modified))
    yield "<items><rdf:Seq>"
    yield "".join(
        f"<rdf:li rdf:resource={quoteattr(feed.guid(a) or a.link)}/>" for a in feed.articles
    )
    yield "</rdf:Seq></items></channel>\n"
    for article in feed.articles:
        yield f"<item rdf:about={quoteattr(feed.guid(article) or article.link)}>"
        yield _text("title", article.title) + _text("link", article.link)
        yield _text("description", article.summary)
        yield f"<content:encoded><![CDATA[{article.html}]]></content:encoded>"
        if article.dated:
            yield _text("dc:date", _iso(article.when))
        yield _text("dc:creator", article.author)
        yield "".join(_text("dc:subject", label) for label in article.labels)
        yield "</item>\n"
    yield "</rdf:RDF>\n"


def main() -> None:
    """Write a corpus to a folder and print its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "_work" / "corpus")
    parser.add_argument("--base-url", default="http://127.0.0.2:8000")
    args = parser.parse_args()
    feeds = generate(args.feeds, args.entries, args.seed)
    total = write_corpus(feeds, args.out, args.base_url)
    print(f"{len(feeds)} feeds, {total / 1e6:.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
