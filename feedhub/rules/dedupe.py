"""Pure decisions about entry identity: which items of a document are distinct entries,
which stored entry each one is, and whether a change may be stored now.

- Within one document, items sharing a key (their guid) but not a canonical link
  are distinct entries: their key becomes guid + link, which stays the same on
  every poll that lists them. Items sharing key and link are repeats: the first
  one counts.
- Across polls, an entry is the stored entry it names by key or alias (see
  `feedhub.parse.normalize.identity_aliases`): the same guid, the same guid written
  another way, the same guid and link, and, only when nothing else matches, the
  same link and title under a new guid. Each stored entry is claimed once per
  poll; a claim whose canonical link is unchanged beats one whose link moved.
- Updates: an entry's content is rewritten at most `UPDATES_PER_DAY` times in
  any day (a window opened by the first rewrite). A source that changes an
  entry on every poll (a counter, a "live" page) gets its changes stored a few
  times a day rather than on every poll; the latest text is stored once the
  window closes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from feedhub.core.models import EntryToStore
from feedhub.core.text import bounded_key

UPDATES_PER_DAY = 4
REVISION_WINDOW = timedelta(days=1)
DIGEST_CHARS = 32
_FALLBACK_PREFIX = "title:"


@functools.lru_cache(maxsize=4096)  # storing a poll digests each name about four times
def digest(name: str) -> str:
    """The fixed-size form in which keys and aliases are stored and looked up."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


def names(entry: EntryToStore) -> tuple[str, ...]:
    """Every name of `entry`, own key first."""
    return (entry.key, *entry.aliases)


def within_document(entries: Sequence[EntryToStore]) -> list[EntryToStore]:
    """The document's distinct entries, in document order (see the module docstring)."""
    links: dict[str, set[str | None]] = {}
    for entry in entries:
        links.setdefault(entry.key, set()).add(entry.canonical_link)
    kept: dict[str, EntryToStore] = {}
    for entry in entries:
        if len(links[entry.key]) > 1:
            aliases = tuple(dict.fromkeys((entry.key, *entry.aliases)))
            distinct = bounded_key(f"{entry.key}\n{entry.canonical_link or ''}")
            entry = replace(entry, key=distinct, aliases=aliases)
        kept.setdefault(entry.key, entry)
    return list(kept.values())


class Known(Protocol):
    """A stored entry that one of a document's names points to, as matching sees it."""

    @property
    def id(self) -> int: ...

    @property
    def canonical_link(self) -> str | None: ...


def match(entries: Sequence[EntryToStore], known: Mapping[str, Known]) -> list[int | None]:
    """For each entry, the id of the stored entry it is, or None when it is new.

    `known` maps the digests of names to the stored entries they name.
    """
    options: list[tuple[bool, bool, int, int, int]] = []
    for index, entry in enumerate(entries):
        for rank, name in enumerate(names(entry)):
            stored = known.get(digest(name))
            if stored is not None:
                fallback = name.startswith(_FALLBACK_PREFIX)
                moved = stored.canonical_link != entry.canonical_link
                options.append((fallback, moved, rank, index, stored.id))
    options.sort()
    matched: list[int | None] = [None] * len(entries)
    claimed: set[int] = set()
    for *_, index, stored_id in options:
        if matched[index] is None and stored_id not in claimed:
            matched[index] = stored_id
            claimed.add(stored_id)
    return matched


@dataclass(frozen=True, slots=True)
class Revisions:
    """How often an entry's content was rewritten in its current window."""

    window_start: datetime
    count: int


def next_revisions(current: Revisions | None, now: datetime) -> Revisions | None:
    """The entry's revisions after one more rewrite at `now`; None when it must wait."""
    if current is None or now - current.window_start >= REVISION_WINDOW:
        return Revisions(now, 1)
    if current.count < UPDATES_PER_DAY:
        return Revisions(current.window_start, current.count + 1)
    return None
