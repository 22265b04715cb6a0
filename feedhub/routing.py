"""Decide which categories an entry belongs to: pure functions over the config.

An entry goes to every category its source is configured with, and to every
category whose `match` list names one of the entry's own labels (compared
after Unicode NFC normalization and casefolding). Every entry is also in "all".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from feedhub.config import CategorySettings
from feedhub.models import EntryToStore

ALL = "all"


def fold(label: str) -> str:
    return unicodedata.normalize("NFC", " ".join(label.split())).casefold()


class Router:
    """Routes entries into categories; built once per config."""

    def __init__(self, categories: Mapping[str, CategorySettings]) -> None:
        self._by_label: dict[str, set[str]] = {}
        for slug, category in categories.items():
            for label in category.match:
                self._by_label.setdefault(fold(label), set()).add(slug)

    def route(self, entry: EntryToStore, source_categories: Iterable[str]) -> frozenset[str]:
        slugs = {ALL, *source_categories}
        for label in entry.labels:
            slugs |= self._by_label.get(fold(label), set())
        return frozenset(slugs)
