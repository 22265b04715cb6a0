"""Normalize a `FeedEntry` as published into an `EntryToStore`: pure functions, no I/O.

Titles become plain text; content and summaries become sanitized HTML (nh3,
an allow-list) with absolute links; characters XML forbids are removed; links
lose tracking noise; dates stay as the feed stated them (UTC) when valid. The
entry's key (its identity within the source), content hash (what changes
when its meaning changes) and near-duplicate candidate keys are computed here.
"""

from __future__ import annotations

import hashlib
import html
import json
import mimetypes
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import nh3

from feedhub.core.models import Enclosure, EntryToStore, FeedEntry
from feedhub.core.text import bounded_key, plain_text, strip_forbidden
from feedhub.core.urls import PUBLISHED_SCHEMES, WEB_SCHEMES, resolve
from feedhub.parse.dates import ZONES
from feedhub.rules.neardup import story_keys

# XML 1.0 forbids these; lxml (and so feedgen) refuses them.
_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi)$", re.IGNORECASE
)
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster"})
_TITLE_FROM_TEXT = 80
# An entity left in text that is not HTML: its feed escaped it twice. Only complete
# references count (html.unescape alone would also read "&notice" as "¬ice").
# The only iframes kept: video players of sites that serve embeds for exactly this.
_VIDEO_EMBED = re.compile(
    r"^https://(?:www\.)?(?:youtube\.com/embed/|youtube-nocookie\.com/embed/|player\.vimeo\.com/video/)",
    re.IGNORECASE,
)
_IFRAME = re.compile(r"<iframe\b([^>]*)>.*?</iframe>", re.IGNORECASE | re.DOTALL)
# An image candidate's descriptor: a width, a density or a height (HTML's srcset).
_SRCSET_DESCRIPTOR = re.compile(r"\d+w|\d+(?:\.\d+)?x|\d+h")
# A media type as RFC 6838 names one: type/subtype, parameters dropped.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")

# What a content hash ignores: timestamps a page embeds and rewrites on every visit.
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_WEEKDAY = (
    r"mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs?|rsday)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?"
)
_STAMP_WORD = (
    rf"(?:\d[\d:./-]*(?:st|nd|rd|th)?|[ap]\.?m\.?|{_MONTH}|{_WEEKDAY}|at|on|ago|"
    rf"seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|{'|'.join(ZONES)}|[+-]\d{{2}}:?\d{{2}})"
)
_TIMESTAMPS = re.compile(
    # The lookahead only skips fast past positions where no branch can start (twice faster).
    r"(?=[<\dlumr])(?:"
    r"<time\b[^>]*>.*?</time>"  # a <time> element, its text and its datetime attribute
    r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?(?:Z|[+-]\d{2}:?\d{2}))?"
    rf"|\b(?:last[\s-]+)?(?:updated|modified|refreshed)\b\s*:?(?:[\s,]*(?:{_STAMP_WORD})\b\.?)+"
    r")",
    re.IGNORECASE | re.DOTALL,
)
_BETWEEN_TAGS = re.compile(r">\s+<")
# What any timestamp `_TIMESTAMPS` removes holds: an ISO date's "-DD-", or one of these
# (casefolded). Looked for first: the pattern costs many times more than looking.
_ISO_DAY = re.compile(r"-\d\d-")
_TIMESTAMP_WORDS = ("<time", "updated", "modified", "refreshed")
# The dotted and dotless I, which the pattern's IGNORECASE takes for "i" and casefold not.
_AS_I = str.maketrans({"\u0130": "i", "\u0131": "i"})

# Python's own table rather than the system's, so every machine infers the same type.
_MEDIA_TYPES = mimetypes.MimeTypes()
for _extension, _media_type in {
    ".m4a": "audio/mp4",
    ".m4b": "audio/mp4",
    ".m4v": "video/mp4",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".ogv": "video/ogg",
    ".flac": "audio/flac",
}.items():
    _MEDIA_TYPES.add_type(_media_type, _extension)
DEFAULT_MEDIA_TYPE = "application/octet-stream"

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "acronym",
        "b",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "picture",
        "pre",
        "q",
        "s",
        "samp",
        "small",
        "source",
        "span",
        "strike",
        "strong",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "time",
        "tr",
        "u",
        "ul",
        "var",
        "audio",
        "video",
        "iframe",  # only video embeds survive: see _VIDEO_EMBED
    }
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height", "srcset"},
    "source": {"src", "srcset", "type", "media"},
    "audio": {"src", "controls"},
    "video": {"src", "controls", "poster", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
    "iframe": {"src", "width", "height", "allowfullscreen"},
}


def sanitize_html(value: str | None, *, is_html: bool, base_url: str) -> str | None:
    """Allow-listed HTML with absolute links; plain text is escaped into HTML.

    Every URL is judged after it is resolved (`feedhub.core.urls.resolve`): nh3
    checks only the scheme of what is written, and `xml:base="file://..."` makes a
    relative `src` a file URL. Links lose tracking parameters; iframes stay only for
    vetted video players, judged on their normalized path.
    """
    if not value or not value.strip():
        return None
    source = strip_forbidden(value) if is_html else html.escape(strip_forbidden(value))

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "srcset":
            return _absolute_srcset(value, base_url)
        if attribute not in _URL_ATTRIBUTES:
            return value
        url = resolve(base_url, value)
        if url is None:
            return None
        if tag == "iframe":
            url = "https://" + url.removeprefix("http://") if url.startswith("http://") else url
            return url if _VIDEO_EMBED.match(url) else None
        return _without_tracking(url)

    cleaned = nh3.clean(
        source,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(PUBLISHED_SCHEMES),
        attribute_filter=rewrite,
        link_rel="noopener noreferrer",
    )
    cleaned = _IFRAME.sub(_kept_iframe, cleaned).strip()
    return cleaned or None


def _kept_iframe(found: re.Match[str]) -> str:
    """An iframe whose src survived, emptied (its inner text is never shown); else nothing."""
    attributes = found.group(1)
    return f"<iframe{attributes}></iframe>" if ' src="' in attributes else ""


def _absolute_srcset(value: str, base_url: str) -> str | None:
    """Each image candidate made absolute and judged; candidates that are not http(s)
    dropped, descriptors that are not a width, density or height dropped. Commas in
    a URL are encoded, so no reader can split a candidate differently."""
    kept = []
    for url, descriptor in _srcset_candidates(value):
        absolute = resolve(base_url, url, WEB_SCHEMES)
        if absolute is not None:
            size = descriptor if _SRCSET_DESCRIPTOR.fullmatch(descriptor) else ""
            kept.append(f"{absolute.replace(',', '%2C')} {size}".strip())
    return ", ".join(kept) or None


def _srcset_candidates(value: str) -> list[tuple[str, str]]:
    """(URL, descriptor) pairs as HTML's srcset parsing reads them: a URL runs to the next
    whitespace, and commas ending it separate candidates (so `a.png,file:x` is a URL and
    `a.png 1x,file:x 2x` two candidates)."""
    candidates = []
    for match in re.finditer(r"[\s,]*([^\s]+)([^,]*)", value):
        url, descriptor = match.group(1), match.group(2).strip()
        if url.endswith(","):
            url, descriptor = url.rstrip(","), ""
        if url:
            candidates.append((url, " ".join(descriptor.split()[:1])))
    return candidates


def clean_link(url: str | None, base_url: str) -> str | None:
    """An absolute http(s) link without tracking parameters (see `feedhub.core.urls`)."""
    if not url:
        return None
    absolute = resolve(base_url, strip_forbidden(url), WEB_SCHEMES)
    return None if absolute is None else _without_tracking(absolute)


def _without_tracking(url: str) -> str:
    if "?" not in url:
        return url  # no query: nothing to remove (most links), without parsing it
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if not _TRACKING_PARAMS.match(key)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def canonical_link(link: str | None) -> str | None:
    """The identity of an article's URL: scheme, `www.`, trailing slash and order ignored."""
    if not link:
        return None
    parts = urlsplit(link)
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit(("", host, path, query, ""))[2:]


def entry_key(guid: str | None, link: str | None, title: str, body: str) -> str:
    """Identity within a source: the guid, else the link, else a hash of title and body."""
    if guid:
        return bounded_key(guid)
    if link:
        return link
    return "sha256:" + hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()


def identity_aliases(guid: str | None, link: str | None, title: str) -> tuple[str, ...]:
    """Other names the same entry goes by when its feed churns (see `feedhub.rules.dedupe`).

    - `url:` + the canonical form of a URL guid (or of the link, with no guid): the
      same entry whether its guid says http or https, www. or not, a trailing slash
      or tracking parameters;
    - the guid and the canonical link together: tells apart items that share a guid;
    - `title:` + canonical link + title: the same article under a brand-new guid.
    """
    canonical = canonical_link(link)
    aliases = []
    if guid:
        if guid_link := clean_link(guid, ""):
            aliases.append(f"url:{canonical_link(guid_link)}")
        if canonical:
            aliases.append(f"{bounded_key(guid)}\n{canonical}")
    elif canonical:
        aliases.append(f"url:{canonical}")
    if canonical and title:
        aliases.append(f"title:{canonical}\n{' '.join(title.split()).casefold()}")
    return tuple(dict.fromkeys(aliases))


def content_hash(
    title: str,
    link: str | None,
    summary: str | None,
    content: str | None,
    enclosures: tuple[Enclosure, ...],
    labels: tuple[str, ...],
    image: str | None = None,
) -> str:
    """A hash of what a reader sees, blind to whitespace, tracking parameters (already
    gone from links) and the timestamps pages embed ("Updated 12:03", ISO times)."""
    material: list[object] = [
        fingerprint(title),
        canonical_link(link),
        fingerprint(summary),
        fingerprint(content),
        [(e.url, e.type, e.length) for e in enclosures],
        sorted(labels),
    ]
    # Only when there are any, so the hashes of entries stored without them stay the same.
    durations = [enclosure.duration for enclosure in enclosures]
    if image or any(durations):
        material.append([image, durations])
    return hashlib.sha256(json.dumps(material, ensure_ascii=False).encode()).hexdigest()


def fingerprint(text: str | None) -> str:
    """`text` without embedded timestamps, with whitespace (and between tags) collapsed."""
    without = _TIMESTAMPS.sub("", text) if text and _may_hold_timestamps(text) else text or ""
    # str.split() splits on exactly what `\s` matches, in a third of the time.
    return " ".join(_BETWEEN_TAGS.sub("><", without).split())


def _may_hold_timestamps(text: str) -> bool:
    if _ISO_DAY.search(text):
        return True
    folded = text.translate(_AS_I).casefold()
    return any(word in folded for word in _TIMESTAMP_WORDS)


def normalize_entries(entries: Iterable[FeedEntry]) -> tuple[EntryToStore, ...]:
    """The entries worth publishing: one with no title, no text and no media has nothing
    to show (a placeholder title would be published as if it were the article)."""
    normalized = map(normalize_entry, entries)
    return tuple(
        e for e in normalized if e.title or e.summary_html or e.content_html or e.enclosures
    )


def normalize_entry(entry: FeedEntry) -> EntryToStore:
    title = plain_text(entry.title, is_html=entry.title_is_html)
    summary_base = entry.summary_base_url or entry.base_url
    summary = sanitize_html(entry.summary, is_html=entry.summary_is_html, base_url=summary_base)
    content = sanitize_html(entry.content, is_html=entry.content_is_html, base_url=entry.base_url)
    if content == summary:
        summary = None
    link = clean_link(entry.link, entry.base_url)
    enclosures = _enclosures(entry.enclosures, entry.base_url)
    image = clean_link(entry.image, entry.base_url)
    if not title and (content or summary or enclosures):
        # An image-only post or a bare episode still gets a line to show in a list.
        named = enclosures[0].url if enclosures else link
        title = _title_from(content or summary) or _title_from_url(named)
    labels = tuple(
        dict.fromkeys(label for raw in entry.categories if (label := plain_text(raw, is_html=True)))
    )
    guid = strip_forbidden(entry.guid or "").strip() or None
    return EntryToStore(
        key=entry_key(guid, link, title, content or summary or ""),
        canonical_link=canonical_link(link),
        link=link,
        title=title,
        summary_html=summary,
        content_html=content,
        authors=tuple(
            name for author in entry.authors if (name := plain_text(author, is_html=True))
        ),
        labels=labels,
        enclosures=enclosures,
        published=entry.published,
        updated=entry.updated,
        content_hash=content_hash(title, link, summary, content, enclosures, labels, image),
        aliases=identity_aliases(guid, link, title),
        image=image,
        story_keys=story_keys(title, summary, content),
    )


def _title_from(body: str | None) -> str:
    text = plain_text(body, is_html=True)
    if len(text) <= _TITLE_FROM_TEXT:
        return text
    return text[:_TITLE_FROM_TEXT].rsplit(" ", 1)[0] + "…"


def _title_from_url(url: str | None) -> str:
    """The last part of a URL's path, "episode-12.mp3" or "my-post", as a last-resort title."""
    path = urlsplit(url or "").path
    return " ".join(unquote(path.rstrip("/").rsplit("/", 1)[-1]).split())


def _enclosures(stated: tuple[Enclosure, ...], base_url: str) -> tuple[Enclosure, ...]:
    """Absolute http(s) enclosures, one per URL, with a type of the form type/subtype
    (inferred from the URL when the feed gave none or a malformed one) and a length
    (0 when unknown)."""
    kept: dict[str, Enclosure] = {}
    for enclosure in stated:
        url = clean_link(enclosure.url, base_url)
        if url is None or url in kept:
            continue
        stated_type = enclosure.type.partition(";")[0].strip().lower()
        guessed, _ = _MEDIA_TYPES.guess_type(urlsplit(url).path, strict=False)
        kept[url] = Enclosure(
            url=url,
            length=max(0, enclosure.length),
            type=stated_type
            if _MEDIA_TYPE.fullmatch(stated_type)
            else guessed or DEFAULT_MEDIA_TYPE,
            duration=enclosure.duration,
        )
    return tuple(kept.values())
