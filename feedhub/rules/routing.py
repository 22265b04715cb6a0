"""Decide which categories an entry belongs to: pure functions over the config.

An entry goes to each category
- its source lists in `categories`;
- whose `match` names one of the entry's own labels (compared after decoding
  HTML entities, Unicode NFC normalization and casefolding);
- whose `keywords` holds a whole word or phrase found in the entry's title or
  summary (its content when it has no summary), compared the same way;
unless that category's `exclude` keywords are found the same way. Every entry
is also in "all", which no exclusion applies to.

`routing_digest` sums up everything routing depends on; the store keeps the
digest it routed with and re-routes stored entries when it changes.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from feedhub.config.settings import CategorySettings, SourceSettings
from feedhub.core.text import plain_text

ALL = "all"


class Routable(Protocol):
    """What routing reads of an entry (an `EntryToStore`, or one read back from the store)."""

    @property
    def title(self) -> str: ...

    @property
    def summary_html(self) -> str | None: ...

    @property
    def content_html(self) -> str | None: ...

    @property
    def labels(self) -> tuple[str, ...]: ...


def fold(text: str) -> str:
    """`text` as routing compares it: entities decoded, NFC, casefolded, spaces collapsed."""
    return unicodedata.normalize("NFC", " ".join(html.unescape(text).split())).casefold()


@dataclass(frozen=True, slots=True)
class _Rule:
    slug: str
    labels: frozenset[str]
    keywords: re.Pattern[str] | None
    exclude: re.Pattern[str] | None


class Router:
    """Routes entries into categories; built once per config."""

    def __init__(self, categories: Mapping[str, CategorySettings]) -> None:
        self._rules = [
            _Rule(
                slug,
                frozenset(fold(label) for label in category.match),
                _whole_words(category.keywords),
                _whole_words(category.exclude),
            )
            for slug, category in categories.items()
        ]
        self._reads_text = any(rule.keywords or rule.exclude for rule in self._rules)

    def route(self, entry: Routable, source_categories: Iterable[str]) -> frozenset[str]:
        from_source = set(source_categories)
        labels = {fold(label) for label in entry.labels}
        text = _searchable(entry) if self._reads_text else ""
        slugs = {ALL}
        for rule in self._rules:
            wanted = (
                rule.slug in from_source
                or not labels.isdisjoint(rule.labels)
                or (rule.keywords is not None and rule.keywords.search(text) is not None)
            )
            if wanted and (rule.exclude is None or rule.exclude.search(text) is None):
                slugs.add(rule.slug)
        return frozenset(slugs)


def routing_digest(
    categories: Mapping[str, CategorySettings], sources: Sequence[SourceSettings]
) -> str:
    """A digest of every setting routing depends on."""
    material = {
        "categories": {
            slug: [sorted(category.match), sorted(category.keywords), sorted(category.exclude)]
            for slug, category in sorted(categories.items())
        },
        "sources": {source.url: sorted(source.categories) for source in sources},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _whole_words(words: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern finding any of `words` (folded) as whole words in folded text."""
    phrases = sorted({folded for word in words if (folded := fold(word))}, key=len, reverse=True)
    if not phrases:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _searchable(entry: Routable) -> str:
    summary = plain_text(entry.summary_html or entry.content_html, is_html=True)
    return fold(f"{entry.title} {summary}")
