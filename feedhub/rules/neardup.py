"""Pure decisions about near-duplicate articles: the same story published by several sites
under their own links, and which copy of a story each category shows.

- What is compared is the text a reader sees: the title, and the body (the content,
  else the summary) with markup, links, agency datelines and boilerplate lines
  ("Reporting by ...", "The post ... appeared first on ...", "Read more") removed,
  casefolded, as words.
- A story's candidate keys are band hashes of a MinHash (datasketch's, computed with
  numpy) of the word 3-grams of the body's first `KEY_WORDS` words: two bodies whose openings are
  alike share a key with high probability (a Jaccard similarity of 0.5 gives a
  shared key 99% of the time, 0.4 94%). Keys only find candidates; the decision is
  made on the texts themselves.
- Two texts are the same story when both bodies have at least `MIN_WORDS` words,
  the lead (first `LEAD_WORDS` words) of one is mostly in the other (at least
  `LEAD_MIN` of its 3-grams, the larger way round), and at least
  `threshold` of the shorter body's 3-grams are in the longer one (a shorter intro
  of a longer story is the same story). Titles that share less than half their words,
  with leads less alike than `LEAD_SAME`, need `STRICT` instead of `threshold`. A
  text marked as a correction or an update is never the same story as one that is
  not. Short items never merge.
- Each category shows, of a story's copies routed to it, the earliest published
  (ties: the source first in the config, then the story's first entry, then the copy
  stored first); the others
  routed to it are its related links.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from feedhub.core.text import plain_text

if TYPE_CHECKING:
    from feedhub.config.settings import Settings

MIN_WORDS = 25
LEAD_WORDS = 40
KEY_WORDS = 60
LEAD_MIN = 0.5
LEAD_SAME = 0.8  # leads this alike vouch for a story whose headline was rewritten
TITLE_MIN = 0.5
STRICT = 0.9
DEFAULT_THRESHOLD = 0.6
SHINGLE = 3
BANDS = 16
ROWS = 2
SEED = 16


# The MinHash of datasketch 2's MinHash(num_perm=BANDS * ROWS, seed=SEED) (its default
# "affine32" scheme: the first 32 bits of each shingle's SHA-1, mixed by MurmurHash3's
# finalizer, then a * h + b modulo 2^32 per hash function), computed here: the package
# imports scipy for its LSH classes (half a second and 40 MiB in every process that
# sketches entries), and this is all of it we use. tests/test_neardup.py checks the values
# against datasketch's, so the keys stored by earlier versions are still found.
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)


@cache
def _permutations() -> tuple[Any, Any, tuple[Any, ...]]:
    """The (a, b) of each of the sketch's hash functions, drawn as datasketch draws them,
    and the finalizer's constants, as numpy values."""
    import numpy as np  # imported on first use: a run that stores no new entry never pays

    draw = np.random.RandomState(SEED)
    a = draw.randint(0, 1 << 31, BANDS * ROWS, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = draw.randint(0, 1 << 32, BANDS * ROWS, dtype=np.uint32)
    return a, b, tuple(np.uint32(constant) for constant in _FMIX32)


def minhash(shingles: Sequence[bytes]) -> list[int]:
    """The MinHash values of a non-empty set of shingles (see `_permutations`)."""
    import numpy as np

    a, b, (first, multiply, second, multiply_again, third) = _permutations()
    # The first four bytes of each SHA-1, read as datasketch reads them (little-endian).
    digests = b"".join([hashlib.sha1(s, usedforsecurity=False).digest()[:4] for s in shingles])
    hashes = np.frombuffer(digests, dtype="<u4").astype(np.uint32)
    # uint32 arithmetic wraps around: the modulo 2^32 of MurmurHash3 and the permutations.
    hashes = (hashes ^ (hashes >> first)) * multiply
    hashes = (hashes ^ (hashes >> second)) * multiply_again
    hashes = hashes ^ (hashes >> third)
    values: list[int] = (hashes[:, np.newaxis] * a + b).min(axis=0).tolist()
    return values


# A tag of sanitized HTML (what the store holds: nh3's output, attributes double-quoted).
_MARKUP = re.compile(r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_URL_TELLTALES = ("http", "www.")


@dataclass(frozen=True, slots=True)
class _Phrase:
    """A kind of phrase looked for in casefolded text (whitespace one space). Its pattern
    runs only on texts holding one of its telltales: Python's regular expressions try
    every alternative at every place, which costs far more than looking for a few words."""

    telltales: tuple[str, ...]
    pattern: re.Pattern[str]

    def _maybe_in(self, text: str) -> bool:
        return any(telltale in text for telltale in self.telltales)

    def removed(self, text: str) -> str:
        return self.pattern.sub(" ", text) if self._maybe_in(text) else text

    def found_in(self, text: str) -> bool:
        return self._maybe_in(text) and self.pattern.search(text) is not None


_AGENCIES = ("ap", "afp", "reuters", "pti", "ani", "ians", "dpa", "upi")
# What sites add around a wire story, removed before comparing.
_BOILERPLATE = (
    _Phrase(
        tuple(f"{agency})" for agency in _AGENCIES),
        re.compile(rf"(?:\(|\b)(?:{'|'.join(_AGENCIES)})\)"),
    ),
    _Phrase(
        ("reporting by", "writing by", "editing by", "compiled by"),
        re.compile(r"\b(?:additional )?(?:reporting|writing|editing|compiled) by\b[^.]*"),
    ),
    _Phrase(("appeared first on",), re.compile(r"\bthe post\b.{0,300}?\bappeared first on\b[^.]*")),
    _Phrase(
        ("continue reading", "read more", "read the full story", "click here"),
        re.compile(r"\b(?:continue reading|read more|read the full story|click here)\b[^.]*"),
    ),
    _Phrase(("©", "(c)", "copyright"), re.compile(r"(?:©|\(c\)|copyright) ?\d{0,4}[^.]*")),
    _Phrase(("rights reserved",), re.compile(r"\ball rights reserved\b")),
)
# An all-capitals place at the start of a wire story: "WASHINGTON —", "NEW DELHI:".
_DATELINE = re.compile(
    r"^[A-Z]{2,}(?:[ ,.'-]+[A-Za-z.']+){0,4}\s*(?:\([^)]{1,20}\))?\s*[\u2014\u2013:-]+\s*"
)
# Where a story says it corrects or follows up another (looked for in the title and the
# first and last words of the body, where sites put such notes).
_MARKED = _Phrase(
    ("correct", "clarification", "update", "follow", "earlier version"),
    re.compile(
        r"\b(?:corrections?|clarification|update|follow-?up) ?:"
        r"|\b(?:corrects|correcting)\b"
        r"|\ban earlier version of this\b"
        r"|\bthis (?:story|article|report) (?:has been|was) (?:corrected|updated)\b"
        r"|\bupdates? with\b"
    ),
)
MARK_WORDS = 60
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Policy:
    """What the config says about near-duplicates."""

    enabled: bool = True
    threshold: float = DEFAULT_THRESHOLD
    off_sources: frozenset[str] = frozenset()  # source URLs whose entries never merge
    off_categories: frozenset[str] = frozenset()  # slugs showing every copy on its own

    def applies_to(self, source_url: str) -> bool:
        return self.enabled and source_url not in self.off_sources


DEFAULT_POLICY = Policy()


def policy_of(settings: Settings) -> Policy:
    return Policy(
        enabled=settings.dedupe.enabled,
        threshold=settings.dedupe.threshold,
        off_sources=frozenset(s.url for s in settings.sources if not s.dedupe),
        off_categories=frozenset(
            slug for slug, category in settings.categories.items() if not category.dedupe
        ),
    )


@dataclass(frozen=True)  # no slots: the shingles are computed once, when first asked for
class ReaderText:
    """An entry's title and body as words, the way they are compared."""

    title: tuple[str, ...]
    body: tuple[str, ...]
    marked: bool  # says it is a correction or an update of another story

    @cached_property
    def shingles(self) -> frozenset[tuple[str, ...]]:
        return _shingles(self.body)

    @cached_property
    def lead(self) -> frozenset[tuple[str, ...]]:
        return _shingles(self.body[:LEAD_WORDS])

    @cached_property
    def opening(self) -> frozenset[tuple[str, ...]]:
        """The longer lead the candidate keys are drawn from."""
        return _shingles(self.body[:KEY_WORDS])

    @property
    def comparable(self) -> bool:
        return len(self.body) >= MIN_WORDS


def reader_text(title: str, summary_html: str | None, content_html: str | None) -> ReaderText:
    """The text of an entry as stored: a plain-text title, sanitized HTML."""
    body = _DATELINE.sub("", _sanitized_text(content_html or summary_html or ""))
    heading, folded = _folded(plain_text(title, is_html=False)), _folded(body)
    marked = _MARKED.found_in(_ends(heading, folded))
    if any(telltale in folded for telltale in _URL_TELLTALES):
        folded = _URL.sub(" ", folded)
    for phrase in _BOILERPLATE:
        folded = phrase.removed(folded)
    return ReaderText(
        title=tuple(_WORD.findall(heading)), body=tuple(_WORD.findall(folded)), marked=marked
    )


def story_keys(title: str, summary_html: str | None, content_html: str | None) -> tuple[int, ...]:
    """The candidate keys of an entry as stored (see `reader_text`, `candidate_keys`)."""
    return candidate_keys(reader_text(title, summary_html, content_html))


def candidate_keys(text: ReaderText) -> tuple[int, ...]:
    """The band hashes under which `text` is filed and looked up (none for short texts)."""
    if not text.comparable:
        return ()
    values = minhash([" ".join(shingle).encode("utf-8") for shingle in text.opening])
    keys = []
    for band in range(BANDS):
        rows = values[band * ROWS : (band + 1) * ROWS]
        material = f"{band}:{':'.join(map(str, rows))}".encode()
        digest = hashlib.blake2b(material, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return tuple(dict.fromkeys(keys))


def similarity(a: ReaderText, b: ReaderText) -> float:
    """How much of the shorter body is in the longer one (0 when the leads differ)."""
    if not (a.comparable and b.comparable) or a.marked != b.marked:
        return 0.0
    if _lead_overlap(a, b) < LEAD_MIN:
        return 0.0
    shorter, longer = sorted((a.shingles, b.shingles), key=len)
    return len(shorter & longer) / len(shorter) if shorter else 0.0


def same_story(a: ReaderText, b: ReaderText, threshold: float) -> bool:
    """Whether `a` and `b` are one story (see the module docstring)."""
    alike = (
        _jaccard(frozenset(a.title), frozenset(b.title)) >= TITLE_MIN
        or _lead_overlap(a, b) >= LEAD_SAME
    )
    return similarity(a, b) >= (threshold if alike else max(threshold, STRICT))


def best_story(
    text: ReaderText, candidates: Sequence[tuple[int, ReaderText]], threshold: float
) -> int | None:
    """The story (id) of the candidate most like `text`, if any is the same story;
    candidates are (story id, text), ties go to the lowest story id."""
    scored = [
        (-similarity(text, other), story)
        for story, other in candidates
        if same_story(text, other, threshold)
    ]
    return min(scored)[1] if scored else None


@dataclass(frozen=True, slots=True)
class Showing:
    """How one feed shows stories: its sources' config order, whether it merges copies."""

    order: Mapping[str, int] = field(default_factory=dict)  # source URL -> place in config
    merged: bool = True  # False: near-duplicates from other sites are shown apart


DEFAULT_SHOWING = Showing()


def showing_of(settings: Settings, slug: str) -> Showing:
    category = settings.categories.get(slug)
    return Showing(
        order={source.url: place for place, source in enumerate(settings.sources)},
        merged=settings.dedupe.enabled and (category is None or category.dedupe),
    )


@dataclass(frozen=True, slots=True)
class Copy:
    """One copy of a story, as the choice of the shown copy sees it."""

    entry_id: int
    source_url: str
    published: datetime
    first: bool  # the story's first entry (whose id it is published under)


def shown_first(copies: Sequence[Copy], order: Mapping[str, int]) -> list[Copy]:
    """`copies` in the order a category prefers them: the shown one first."""
    last = len(order)
    return sorted(
        copies,
        key=lambda c: (c.published, order.get(c.source_url, last), not c.first, c.entry_id),
    )


def _lead_overlap(a: ReaderText, b: ReaderText) -> float:
    """How much of one text's lead is found in the other text, the larger way round (a
    site's own standfirst on top of the wire text leaves the wire's lead in it whole)."""
    return max(_contained(a.lead, b.shingles), _contained(b.lead, a.shingles))


def _contained(part: frozenset[tuple[str, ...]], whole: frozenset[tuple[str, ...]]) -> float:
    return len(part & whole) / len(part) if part else 0.0


def _ends(heading: str, body: str) -> str:
    words = body.split()
    return " ".join([heading, *words[:MARK_WORDS], "|", *words[-MARK_WORDS:]])


def _sanitized_text(html_text: str) -> str:
    """The words of sanitized HTML: each tag a space (paragraphs do not run into each
    other's words), entities decoded, whitespace one space."""
    return " ".join(html.unescape(_MARKUP.sub(" ", html_text)).split())


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _shingles(words: Sequence[str]) -> frozenset[tuple[str, ...]]:
    if len(words) < SHINGLE:
        return frozenset({tuple(words)}) if words else frozenset()
    return frozenset(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


def _jaccard(a: frozenset[object], b: frozenset[object]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0
