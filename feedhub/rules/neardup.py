"""Pure decisions about near-duplicate articles: the same story published by several sites
under their own links, and which copy of a story each category shows.

- What is compared is the text a reader sees: the title, and the body (the content,
  else the summary) with markup, links, agency datelines and boilerplate lines
  ("Reporting by ...", "The post ... appeared first on ...", "Read more") removed,
  casefolded, as words.
- A story's candidate keys are band hashes of a MinHash (`datasketch`) of the word
  3-grams of the body's first `KEY_WORDS` words: two bodies whose openings are
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
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from typing import Any

from feedhub.config.settings import Settings
from feedhub.core.text import plain_text

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


@cache
def _minhash_template() -> Any:
    """The empty sketch every text's is copied from. datasketch is imported on first use:
    it costs half a second, which a run that stores no new entry never pays."""
    from datasketch import MinHash

    return MinHash(num_perm=BANDS * ROWS, seed=SEED)


_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# Lines and phrases that sites add around a wire story; removed before comparing.
_BOILERPLATE = re.compile(
    r"(?:\(|\b)(?:ap|afp|reuters|pti|ani|ians|dpa|upi)\)"
    r"|\b(?:additional\s+)?(?:reporting|writing|editing|compiled)\s+by\b[^.\n]*"
    r"|\bthe\s+post\b.{0,300}?\bappeared\s+first\s+on\b[^.\n]*"
    r"|\b(?:continue\s+reading|read\s+more|read\s+the\s+full\s+story|click\s+here)\b[^.\n]*"
    r"|(?:©|\(c\)|copyright)\s*\d{0,4}[^.\n]*"
    r"|\ball\s+rights\s+reserved\b",
    re.IGNORECASE,
)
# An all-capitals place at the start of a wire story: "WASHINGTON —", "NEW DELHI:".
_DATELINE = re.compile(
    r"^[A-Z]{2,}(?:[ ,.'-]+[A-Za-z.']+){0,4}\s*(?:\([^)]{1,20}\))?\s*[\u2014\u2013:-]+\s*"
)
# Where a story says it corrects or follows up another (looked for in the title and the
# first and last words of the body, where sites put such notes).
_MARKED = re.compile(
    r"\b(?:corrections?|clarification|update|follow-?up)\s*:"
    r"|\b(?:corrects|correcting)\b"
    r"|\ban\s+earlier\s+version\s+of\s+this\b"
    r"|\bthis\s+(?:story|article|report)\s+(?:has\s+been|was)\s+(?:corrected|updated)\b"
    r"|\bupdates?\s+with\b",
    re.IGNORECASE,
)
MARK_WORDS = 60
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<")


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
    # A space before each tag, so that paragraphs do not run into each other's words.
    body = plain_text(_TAG.sub(r" \g<0>", content_html or summary_html or ""), is_html=True)
    body = _DATELINE.sub("", body)
    heading = plain_text(title, is_html=False)
    return ReaderText(
        title=_words(heading),
        body=_words(_BOILERPLATE.sub(" ", _URL.sub(" ", body))),
        marked=_MARKED.search(_ends(heading, body)) is not None,
    )


def candidate_keys(text: ReaderText) -> tuple[int, ...]:
    """The band hashes under which `text` is filed and looked up (none for short texts)."""
    if not text.comparable:
        return ()
    sketch = _minhash_template().copy()
    sketch.clear()
    sketch.update_batch([" ".join(shingle).encode("utf-8") for shingle in sorted(text.opening)])
    values = [int(value) for value in sketch.hashvalues]
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


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _shingles(words: Sequence[str]) -> frozenset[tuple[str, ...]]:
    if len(words) < SHINGLE:
        return frozenset({tuple(words)}) if words else frozenset()
    return frozenset(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


def _jaccard(a: frozenset[object], b: frozenset[object]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0
