"""Pure decisions of the entry write path: what one poll's entries do to the store.

The store reads what it knows about a poll's entries (`KnownEntries`, in two steps:
the names, then, under the canonical-link locks, what `to_read` asks for); `decide`
turns (the routed entries, what is known, now) into `EntryIntents` without touching
the database; the store applies them. The policy:

- Exact repeats inside one document count once (the first one wins).
- An entry is the stored entry it names (see `feedhub.rules.dedupe.match`). A match
  whose content changed is rewritten in place (its id stays, its `updated` moves on),
  at most `dedupe.UPDATES_PER_DAY` times a day; one over that budget waits.
- An entry nothing matches is new, unless one of its names is a tombstone (retention
  pruned the entry it names): then it is not stored again. A new entry whose key names
  a stored entry that a better match claimed is stored under a free key instead.
- One article per canonical link. A new entry whose link an article has is a copy of
  it and adds its categories to the article's. A rewritten entry whose link moved onto
  another article's becomes its copy: its categories and its copies go with it. One
  whose new link no article has is an article of its own.
- Dates: a date in the future is not believed; an undated entry sorts at its
  first-seen time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from feedhub.core.models import EntryToStore, RoutedEntry
from feedhub.core.text import bounded_key
from feedhub.rules import dedupe

FREE_KEY_TRIES = 9  # a free key is the entry's key and link, then the same numbered 2..9


@dataclass(frozen=True, slots=True)
class New:
    """An entry this poll inserts, by its place in `EntryIntents.inserts`."""

    index: int


EntryRef = int | New  # a stored entry's id, or an entry this poll inserts


@dataclass(frozen=True, slots=True)
class Article:
    """An entry that is no copy: what copies point to, and where it sorts in a feed."""

    id: EntryRef
    sort_time: datetime


# --- what the store knows (store -> rules) ----------------------------------


@dataclass(frozen=True, slots=True)
class KnownEntry:
    """A stored entry of the source that one of a poll's names points to."""

    id: int
    canonical_link: str | None
    content_hash: str
    updated: datetime
    sort_time: datetime
    article: Article | None  # the article it is a copy of; None when it is one
    revisions: dedupe.Revisions | None  # its rewrites in the current window


@dataclass(frozen=True, slots=True)
class KnownEntries:
    """What the store knows about one poll's entries, read before deciding."""

    names: Mapping[str, KnownEntry]  # by name digest (`dedupe.digest`): keys, then aliases
    # Read under the locks on `ToRead.locks`:
    pruned: frozenset[str] = frozenset()  # of `ToRead.tombstones`, those naming pruned entries
    primaries: Mapping[str, Article] = field(default_factory=dict)  # by canonical link
    categories: Mapping[int, frozenset[str]] = field(default_factory=dict)  # of `ToRead.articles`
    taken_keys: frozenset[str] = frozenset()  # of `ToRead.keys`, those the source's entries have


@dataclass(frozen=True, slots=True)
class ToRead:
    """What the store must read, once it knows the names, for `decide` to decide."""

    locks: frozenset[str]  # canonical links to lock first: the articles about to change
    links: frozenset[str]  # whose articles (`KnownEntries.primaries`) to read
    articles: frozenset[int]  # stored articles whose categories to read (they may move)
    keys: frozenset[str]  # candidate free keys to check
    tombstones: frozenset[str]  # name digests of entries nothing matches: pruned ones?


# --- what the store does (rules -> store) -----------------------------------


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A stored entry whose content changed, rewritten in place."""

    id: int
    entry: EntryToStore
    updated: datetime
    article: EntryRef | None  # the article it is a copy of once the poll is stored
    revisions: dedupe.Revisions  # its rewrites, this one counted
    categories: frozenset[str]  # those it was routed to itself


@dataclass(frozen=True, slots=True)
class Rehome:
    """A stored article whose link moved onto another article's: its category rows
    leave it (they join `into`), and its copies become copies of `into`."""

    article: int
    into: EntryRef


@dataclass(frozen=True, slots=True)
class Membership:
    """An article joins these categories (where it is not yet), at its sort time."""

    article: EntryRef
    sort_time: datetime
    categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class Insert:
    """A new entry, stored under `entry.key`.

    A copy (`article` set) joins its article's categories; when its article is a new
    entry that could not be inserted (another worker stored it first), it is an article
    of its own.
    """

    entry: EntryToStore
    published: datetime | None
    updated: datetime
    sort_time: datetime
    article: Article | None
    categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class EntryIntents:
    """Everything one poll's entries change. The store inserts first, so that every `New`
    has an id, then applies the rehomes, the rewrites, the memberships, the names and
    the listing."""

    rewrites: tuple[Rewrite, ...] = ()
    rehomes: tuple[Rehome, ...] = ()  # in order: a later one may move what an earlier moved
    inserts: tuple[Insert, ...] = ()
    memberships: tuple[Membership, ...] = ()  # of the rewritten entries' articles
    names: tuple[tuple[str, EntryRef], ...] = ()  # aliases (digests) to record
    listed: tuple[EntryRef, ...] = ()  # what the document listed (retention keeps these)
    dirty: frozenset[str] = frozenset()  # categories the rewrites change; inserts add theirs
    unchanged: int = 0  # matched entries whose content is the same
    over_budget: tuple[int, ...] = ()  # changed, but rewritten too often today: skipped
    tombstoned: tuple[str, ...] = ()  # keys of new entries that name pruned ones: skipped


@dataclass(frozen=True, slots=True)
class _Sorted:
    """A poll's entries sorted out against the names the store knows."""

    matched: list[tuple[RoutedEntry, KnownEntry]]
    fresh: list[RoutedEntry]
    tombstoned: list[RoutedEntry]

    @property
    def changed(self) -> list[tuple[RoutedEntry, KnownEntry]]:
        return [
            (item, stored)
            for item, stored in self.matched
            if stored.content_hash != item.entry.content_hash
        ]


def to_read(routed: Sequence[RoutedEntry], names: Mapping[str, KnownEntry]) -> ToRead:
    """What the store reads next: the articles of the links of new and changed entries
    (under their locks, with the links changed entries leave), the categories of articles
    that may move, whether entries nothing matches name pruned ones, and the free keys new
    entries may need."""
    poll = _sort_out(routed, names, frozenset())  # tombstones are not known yet: "fresh"
    changed = poll.changed
    links = {item.entry.canonical_link for item in poll.fresh}
    links |= {item.entry.canonical_link for item, _ in changed}
    moving = [
        stored
        for item, stored in changed
        if stored.article is None and stored.canonical_link != item.entry.canonical_link
    ]
    left = {stored.canonical_link for stored in moving}
    return ToRead(
        locks=frozenset(link for link in links | left if link),
        links=frozenset(link for link in links if link),
        articles=frozenset(stored.id for stored in moving),
        keys=frozenset(_candidate_keys(poll.fresh, names)),
        tombstones=frozenset(
            dedupe.digest(name) for item in poll.fresh for name in dedupe.names(item.entry)
        ),
    )


def decide(routed: Sequence[RoutedEntry], known: KnownEntries, now: datetime) -> EntryIntents:
    """The intents that store one poll's entries (see the module docstring)."""
    poll = _sort_out(routed, known.names, known.pruned)
    articles = _Articles(known)
    rewritten: list[tuple[RoutedEntry, KnownEntry, dedupe.Revisions]] = []
    over_budget: list[int] = []
    for item, stored in poll.changed:
        revisions = dedupe.next_revisions(stored.revisions, now)
        if revisions is None:
            over_budget.append(stored.id)
            continue
        rewritten.append((item, stored, revisions))
    # Links are left before any is taken: an entry moving onto a link that another entry
    # of this poll moves away from becomes that link's article, whatever their order.
    for item, stored, _ in rewritten:
        articles.leave(stored, item.entry.canonical_link)
    for item, stored, _ in rewritten:
        articles.rewrite(stored, item)
    fresh = _with_free_keys(poll.fresh, known.names, known.taken_keys)
    inserts, places = _inserts(fresh, now, articles)
    kept: list[tuple[EntryToStore, EntryRef]] = [
        (item.entry, stored.id) for item, stored in poll.matched
    ]
    kept += [(item.entry, New(place)) for item, place in zip(fresh, places, strict=True)]
    return EntryIntents(
        rewrites=tuple(
            Rewrite(
                stored.id,
                item.entry,
                _rewritten_updated(item.entry, stored, now),
                articles.article_of(stored.id),
                revisions,
                item.categories,
            )
            for item, stored, revisions in rewritten
        ),
        rehomes=tuple(articles.rehomes),
        inserts=tuple(inserts),
        memberships=tuple(articles.memberships()),
        names=tuple(_new_names(kept, known.names, inserts)),
        listed=tuple(ref for _, ref in kept),
        dirty=frozenset(articles.dirty),
        unchanged=len(poll.matched) - len(poll.changed),
        over_budget=tuple(over_budget),
        tombstoned=tuple(item.entry.key for item in poll.tombstoned),
    )


def _sort_out(
    routed: Sequence[RoutedEntry], names: Mapping[str, KnownEntry], pruned: frozenset[str]
) -> _Sorted:
    unique = _unique_by_key(routed)
    matched_ids = dedupe.match([item.entry for item in unique], names)
    by_id = {stored.id: stored for stored in names.values()}
    poll = _Sorted([], [], [])
    for item, entry_id in zip(unique, matched_ids, strict=True):
        if entry_id is not None:
            poll.matched.append((item, by_id[entry_id]))
        elif any(dedupe.digest(name) in pruned for name in dedupe.names(item.entry)):
            poll.tombstoned.append(item)
        else:
            poll.fresh.append(item)
    return poll


def _unique_by_key(routed: Sequence[RoutedEntry]) -> list[RoutedEntry]:
    """Exact repeats inside one document count once (the first one wins)."""
    return list({item.entry.key: item for item in reversed(routed)}.values())[::-1]


_NOBODY = Article(0, datetime.min)  # ids start at 1


class _Articles:
    """Articles and their categories as the poll's decisions so far leave them."""

    def __init__(self, known: KnownEntries) -> None:
        self.primaries = dict(known.primaries)
        self._stored_categories = known.categories
        self._article_of = {stored.id: stored.article for stored in known.names.values()}
        self._joined: dict[EntryRef, tuple[datetime, set[str]]] = {}
        self.rehomes: list[Rehome] = []
        self.dirty: set[str] = set()

    def article_of(self, entry_id: int) -> EntryRef | None:
        article = self._article_of[entry_id]
        return article.id if article else None

    def rewrite(self, stored: KnownEntry, item: RoutedEntry) -> None:
        """A stored entry is rewritten: it joins (or stays with) the article of its link."""
        article, emptied = self._rehome(stored, item.entry.canonical_link)
        self.join(article, item.categories)
        self.dirty |= emptied | item.categories

    def leave(self, stored: KnownEntry, link: str | None) -> None:
        """An article whose link changes no longer holds its old link."""
        old = stored.canonical_link or ""
        if link != stored.canonical_link and self.primaries.get(old, _NOBODY).id == stored.id:
            del self.primaries[old]

    def join(self, article: Article, categories: Iterable[str]) -> None:
        self._joined.setdefault(article.id, (article.sort_time, set()))[1].update(categories)

    def memberships(self) -> list[Membership]:
        return [
            Membership(article, sort_time, frozenset(categories))
            for article, (sort_time, categories) in self._joined.items()
            if categories
        ]

    def _rehome(self, stored: KnownEntry, link: str | None) -> tuple[Article, set[str]]:
        """Keep one article per canonical link when a stored entry's link changes; return
        the article it belongs to now, and the categories an article left."""
        own = Article(stored.id, stored.sort_time)
        article = self._article_of[stored.id]
        if link == stored.canonical_link:
            return article or own, set()
        target = self.primaries.get(link) if link else None
        if target is None or target.id == stored.id:
            self._article_of[stored.id] = None
            if link:
                self.primaries[link] = own
            return own, set()
        emptied: set[str] = set()
        if article is None:
            emptied = set(self._stored_categories.get(stored.id, ()))
            emptied |= self._joined.pop(stored.id, (own.sort_time, set()))[1]
            self.rehomes.append(Rehome(stored.id, target.id))
            for entry_id, copied in self._article_of.items():
                if copied is not None and copied.id == stored.id:
                    self._article_of[entry_id] = target
            self.join(target, emptied)
        self._article_of[stored.id] = target
        return target, emptied


def _inserts(
    fresh: Sequence[RoutedEntry], now: datetime, articles: _Articles
) -> tuple[list[Insert], list[int]]:
    """The new entries, the first of each article before the copies of articles that are
    new in this poll (so ids come in that order); and each fresh entry's place among them."""
    firsts: list[int] = []
    copies: list[int] = []
    seen: set[str] = set()
    for index, item in enumerate(fresh):
        link = item.entry.canonical_link
        (copies if link in seen and link not in articles.primaries else firsts).append(index)
        if link:
            seen.add(link)
    inserts: list[Insert] = []
    places = [0] * len(fresh)
    for index in firsts + copies:
        item = fresh[index]
        link = item.entry.canonical_link
        published = _stated(item.entry.published or item.entry.updated, now)
        sort_time = published or now
        article = articles.primaries.get(link) if link else None
        if article is None and link:
            articles.primaries[link] = Article(New(len(inserts)), sort_time)
        places[index] = len(inserts)
        updated = _stated_updated(item.entry, now) or sort_time
        inserts.append(Insert(item.entry, published, updated, sort_time, article, item.categories))
    return inserts, places


def _with_free_keys(
    fresh: Sequence[RoutedEntry], names: Mapping[str, KnownEntry], taken: frozenset[str]
) -> list[RoutedEntry]:
    """New entries under keys no entry of the source has: one whose key names a stored
    entry that a better match claimed is stored under its key and link instead."""
    kept: list[RoutedEntry] = []
    used: set[str] = set()
    for item in fresh:
        if dedupe.digest(item.entry.key) in names or item.entry.key in used:
            candidates = _free_key_candidates(item.entry)
            key = next(
                (key for key in candidates if key not in used and key not in taken),
                f"{candidates[0]}\n{len(used)}",
            )
            item = RoutedEntry(replace(item.entry, key=key), item.categories)
        used.add(item.entry.key)
        kept.append(item)
    return kept


def _candidate_keys(fresh: Sequence[RoutedEntry], names: Mapping[str, KnownEntry]) -> set[str]:
    """Every free key `_with_free_keys` may try: those of entries whose key is taken by a
    stored entry, and of entries whose key one of those may take."""
    keys: set[str] = set()
    while True:
        wanted = {
            key
            for item in fresh
            if dedupe.digest(item.entry.key) in names or item.entry.key in keys
            for key in _free_key_candidates(item.entry)
        }
        if wanted <= keys:
            return keys
        keys |= wanted


def _free_key_candidates(entry: EntryToStore) -> list[str]:
    base = bounded_key(f"{entry.key}\n{entry.canonical_link or entry.content_hash}")
    return [base, *(f"{base}\n{number}" for number in range(2, FREE_KEY_TRIES + 1))]


def _new_names(
    kept: Sequence[tuple[EntryToStore, EntryRef]],
    names: Mapping[str, KnownEntry],
    inserts: Sequence[Insert],
) -> list[tuple[str, EntryRef]]:
    """Every name of each kept entry that does not point anywhere yet (the first entry
    to carry a name takes it; a new entry's own key is its stored key, not an alias)."""
    taken = set(names) | {dedupe.digest(insert.entry.key) for insert in inserts}
    found: dict[str, EntryRef] = {}
    for entry, ref in kept:
        for name in dedupe.names(entry):
            alias = dedupe.digest(name)
            if alias not in taken:
                found.setdefault(alias, ref)
    return list(found.items())


def _rewritten_updated(entry: EntryToStore, stored: KnownEntry, now: datetime) -> datetime:
    """A rewritten entry's `updated`: the date it states if later than the stored one,
    else now; never earlier than before."""
    stated = _stated_updated(entry, now)
    return stated if stated and stated > stored.updated else max(now, stored.updated)


def _stated_updated(entry: EntryToStore, now: datetime) -> datetime | None:
    return _stated(entry.updated or entry.published, now)


def _stated(moment: datetime | None, now: datetime) -> datetime | None:
    """A date the feed stated, unless it lies in the future."""
    return moment if moment and moment <= now else None
