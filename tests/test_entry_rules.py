"""The entry write path's decisions (`feedhub.rules.entries`), without a database: what the
store knows is stated as a value, the entries are normalized as the pipeline would, and
the intents are checked. Each identity case the store tests cover (test_identity.py,
test_retention.py, test_workers.py) has its decision here.

`Shelf` states what earlier polls left in the store; `poll` asks `to_read` what the store
would read next and hands `decide` only that, so a read `to_read` forgets shows up here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from feedhub.core.models import FeedEntry, RoutedEntry
from feedhub.core.text import bounded_key
from feedhub.parse.normalize import normalize_entry
from feedhub.rules import dedupe
from feedhub.rules.dedupe import Revisions, digest
from feedhub.rules.entries import (
    Article,
    EntryIntents,
    KnownEntries,
    KnownEntry,
    Membership,
    New,
    Rehome,
    decide,
    to_read,
)

NOW = datetime(2025, 7, 4, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=6)
ARTICLE = "https://news.example/2025/07/story"
OTHER = "https://news.example/2025/07/other"


def entry(
    title: str = "Story",
    *,
    guid: str | None = None,
    link: str | None = ARTICLE,
    body: str | None = None,
    published: datetime | None = None,
    categories: Sequence[str] = ("all",),
) -> RoutedEntry:
    """An entry as the pipeline hands it to the store: normalized and routed."""
    stated = FeedEntry(
        guid=guid,
        link=link,
        title=title,
        title_is_html=False,
        summary=body,
        summary_is_html=True,
        content=None,
        content_is_html=False,
        authors=(),
        categories=(),
        published=published,
        updated=None,
        enclosures=(),
        base_url="https://news.example/",
    )
    return RoutedEntry(normalize_entry(stated), frozenset(categories))


def canonical(item: RoutedEntry) -> str:
    assert item.entry.canonical_link
    return item.entry.canonical_link


@dataclass
class Shelf:
    """What earlier polls left in the store, as the tests state it."""

    names: dict[str, KnownEntry] = field(default_factory=dict)
    primaries: dict[str, Article] = field(default_factory=dict)
    categories: dict[int, frozenset[str]] = field(default_factory=dict)
    pruned: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)

    def stored(
        self,
        entry_id: int,
        item: RoutedEntry,
        *,
        article: Article | None = None,
        sort_time: datetime = EARLIER,
        revisions: Revisions | None = None,
    ) -> KnownEntry:
        """An entry of this source, under its key and aliases; a copy when `article` is set."""
        known = KnownEntry(
            entry_id,
            item.entry.canonical_link,
            item.entry.content_hash,
            sort_time,
            sort_time,
            article,
            revisions,
        )
        for name in dedupe.names(item.entry):
            self.names.setdefault(digest(name), known)
        self.keys.add(item.entry.key)
        if article is None:
            self.article(known.canonical_link, Article(entry_id, sort_time), item.categories)
        return known

    def article(self, link: str | None, article: Article, categories: frozenset[str]) -> None:
        """An article (of this source or another) and the categories it is in."""
        if link:
            self.primaries.setdefault(link, article)
        assert isinstance(article.id, int)
        self.categories[article.id] = self.categories.get(article.id, frozenset()) | categories

    def prune(self, item: RoutedEntry) -> None:
        """Retention pruned the entry: its names are tombstones now."""
        for name in dedupe.names(item.entry):
            self.pruned.add(digest(name))
            self.names.pop(digest(name), None)


def poll(shelf: Shelf, *items: RoutedEntry, now: datetime = NOW) -> EntryIntents:
    """The intents for one poll, from what the store would read for it."""
    wanted = to_read(items, shelf.names)
    assert wanted.links <= wanted.locks
    known = KnownEntries(
        names=shelf.names,
        pruned=frozenset(shelf.pruned & wanted.tombstones),
        primaries={link: a for link, a in shelf.primaries.items() if link in wanted.links},
        categories={i: c for i, c in shelf.categories.items() if i in wanted.articles},
        taken_keys=frozenset(shelf.keys & wanted.keys),
    )
    return decide(items, known, now)


def first_poll(*items: RoutedEntry) -> EntryIntents:
    return poll(Shelf(), *items)


# --- new entries ------------------------------------------------------------


def test_new_entries_are_inserted_with_their_names_and_listed() -> None:
    one, two = entry("One", guid="g1", link=ARTICLE), entry("Two", guid="g2", link=OTHER)
    intents = first_poll(one, two)
    assert [insert.entry.key for insert in intents.inserts] == ["g1", "g2"]
    assert all(insert.article is None for insert in intents.inserts)
    assert intents.listed == (New(0), New(1))
    # Aliases are recorded; a new entry's own key is its stored key, not an alias.
    aliases = dict(intents.names)
    assert digest("g1") not in aliases
    assert aliases[digest(f"g1\n{canonical(one)}")] == New(0)
    assert aliases[digest(f"g2\n{canonical(two)}")] == New(1)
    assert not intents.rewrites and not intents.rehomes and intents.dirty == frozenset()


def test_exact_repeats_inside_one_document_are_one_entry() -> None:
    repeated = entry("Repeated", guid="rep", link=ARTICLE)
    intents = first_poll(repeated, entry("Other", guid="o", link=OTHER), repeated)
    assert sorted(insert.entry.title for insert in intents.inserts) == ["Other", "Repeated"]


def test_new_items_of_one_document_sharing_a_link_are_one_article() -> None:
    vote = entry("Live: the vote", guid="live-1", link=ARTICLE, categories=("all", "world"))
    count = entry("Live: the count", guid="live-2", link=ARTICLE + "?utm_source=rss")
    intents = first_poll(vote, count)
    first, copy = intents.inserts
    assert first.article is None
    assert copy.article == Article(New(0), first.sort_time)  # it waits for its article's id
    assert intents.listed == (New(0), New(1))


def test_copies_of_new_articles_come_after_every_first_entry() -> None:
    # Ids are handed out in insert order: the articles first, as the store always did.
    a1 = entry("A", guid="a1", link=ARTICLE)
    a2 = entry("A again", guid="a2", link=ARTICLE)
    b = entry("B", guid="b", link=OTHER)
    intents = first_poll(a1, a2, b)
    assert [insert.entry.key for insert in intents.inserts] == ["a1", "b", "a2"]
    assert intents.inserts[2].article == Article(New(0), intents.inserts[0].sort_time)
    assert intents.listed == (New(0), New(2), New(1))  # in document order


def test_an_article_another_source_carries_is_joined_as_a_copy() -> None:
    shelf = Shelf()
    theirs = Article(77, EARLIER)
    shelf.article(canonical(entry()), theirs, frozenset({"all"}))
    intents = poll(shelf, entry("Same story", guid="b-9", link=ARTICLE + "?utm_source=b"))
    [insert] = intents.inserts
    assert insert.article == theirs  # credited to the source that had it first
    assert to_read([entry(guid="b-9")], {}).locks == {canonical(entry())}


def test_an_undated_entry_sorts_at_its_first_seen_time() -> None:
    [insert] = first_poll(entry("Undated", guid="u")).inserts
    assert insert.published is None
    assert insert.sort_time == insert.updated == NOW


def test_a_future_date_is_not_believed() -> None:
    future = entry("From the future", guid="f", published=NOW + timedelta(days=3650))
    past = entry("Older", guid="o", link=OTHER, published=EARLIER)
    inserts = first_poll(future, past).inserts
    assert (inserts[0].published, inserts[0].sort_time) == (None, NOW)
    assert (inserts[1].published, inserts[1].sort_time, inserts[1].updated) == (EARLIER,) * 3


def test_a_huge_guid_and_link_are_recognized_on_the_next_poll() -> None:
    huge = entry("Huge guid", guid="urn:x:" + "g" * 5000, link=ARTICLE + "?q=" + "x" * 3000)
    shelf = Shelf()
    shelf.stored(1, huge)
    intents = poll(shelf, huge)
    assert not intents.inserts and intents.unchanged == 1 and intents.listed == (1,)


# --- stored entries seen again ----------------------------------------------


def test_an_unchanged_entry_is_listed_and_nothing_else() -> None:
    shelf = Shelf()
    item = entry(guid="s", body="<p>Shares rose 3%</p>")
    shelf.stored(1, item)
    intents = poll(shelf, item)
    assert intents == EntryIntents(listed=(1,), unchanged=1)
    wanted = to_read([item], shelf.names)  # nothing to lock or read again
    assert not (wanted.locks or wanted.links or wanted.articles or wanted.keys or wanted.tombstones)


def test_a_real_change_is_rewritten_in_place_and_dirties_its_categories() -> None:
    shelf = Shelf()
    shelf.stored(1, entry(guid="s", body="<p>Shares rose 3%</p>", categories=("all", "money")))
    changed = entry(guid="s", body="<p>Shares rose 5%</p>", categories=("all", "money"))
    intents = poll(shelf, changed)
    [rewrite] = intents.rewrites
    assert (rewrite.id, rewrite.entry, rewrite.updated, rewrite.article) == (
        1,
        changed.entry,
        NOW,
        None,
    )
    assert rewrite.revisions == Revisions(NOW, 1)
    assert intents.memberships == (Membership(1, EARLIER, frozenset({"all", "money"})),)
    assert intents.dirty == {"all", "money"}
    assert not intents.inserts


def test_a_rewrite_keeps_a_later_stated_date_and_never_goes_back() -> None:
    shelf = Shelf()
    shelf.stored(1, entry(guid="s", body="one"))
    stated = NOW - timedelta(hours=1)
    assert poll(shelf, entry(guid="s", body="two", published=stated)).rewrites[0].updated == stated
    too_old = EARLIER - timedelta(days=1)
    assert poll(shelf, entry(guid="s", body="two", published=too_old)).rewrites[0].updated == NOW


def test_rewrites_stop_at_the_daily_budget_and_resume_in_a_new_window() -> None:
    shelf = Shelf()
    window = NOW - timedelta(hours=3)
    spent = Revisions(window, dedupe.UPDATES_PER_DAY)
    shelf.stored(1, entry(guid="live", body="reading 1"), revisions=spent)
    intents = poll(shelf, entry(guid="live", body="reading 2"))
    assert not intents.rewrites and intents.over_budget == (1,) and intents.listed == (1,)
    later = poll(shelf, entry(guid="live", body="reading 9"), now=window + timedelta(days=1))
    assert later.rewrites[0].revisions == Revisions(window + timedelta(days=1), 1)
    shelf.names.clear()
    shelf.stored(1, entry(guid="live", body="reading 1"), revisions=Revisions(window, 2))
    assert poll(shelf, entry(guid="live", body="x")).rewrites[0].revisions == Revisions(window, 3)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("http://news.example/a", "https://news.example/a"),
        ("https://www.news.example/a", "https://news.example/a"),
        ("https://news.example/a/", "https://news.example/a"),
        ("https://news.example/a?utm_source=rss&utm_medium=feed", "https://news.example/a"),
        ("https://news.example/a?id=1&fbclid=x", "https://news.example/a?gclid=y&id=1"),
    ],
)
def test_guid_churn_reaches_the_stored_entry_and_records_the_new_name(
    first: str, then: str
) -> None:
    shelf = Shelf()
    shelf.stored(1, entry(guid=first))
    churned = entry("Story, corrected", guid=then)  # only the guid tells it is the same
    intents = poll(shelf, churned)
    assert [rewrite.id for rewrite in intents.rewrites] == [1] and not intents.inserts
    assert (digest(churned.entry.key), 1) in intents.names


def test_a_new_guid_with_the_same_link_and_title_is_the_same_entry() -> None:
    shelf = Shelf()
    shelf.stored(1, entry(guid="cms-1"))
    intents = poll(shelf, entry(guid="cms-2-migrated", link=ARTICLE + "/"))
    assert not intents.inserts and intents.listed == (1,)


def test_a_new_guid_and_title_on_a_stored_link_is_a_copy_of_its_article() -> None:
    shelf = Shelf()
    shelf.stored(1, entry(guid="cms-1"))
    [insert] = poll(shelf, entry("Story (corrected)", guid="cms-2")).inserts
    assert insert.article == Article(1, EARLIER)


def test_items_sharing_a_guid_but_not_a_link_stay_two_entries() -> None:
    first = entry("First", guid="same", link=ARTICLE)
    second = entry("Second", guid="same", link=OTHER)
    shelf = Shelf()
    shelf.stored(1, first)  # stored alone, under the guid itself
    both = [
        RoutedEntry(e, frozenset({"all"}))
        for e in dedupe.within_document([first.entry, second.entry])
    ]
    intents = poll(shelf, *both)
    assert intents.listed == (1, New(0))
    shelf.stored(2, RoutedEntry(intents.inserts[0].entry, frozenset({"all"})))
    assert poll(shelf, *reversed(both)).listed == (2, 1)  # reordered: the same entries
    assert poll(shelf, second).listed == (2,)  # the first one gone upstream


def test_a_key_a_better_match_claimed_is_stored_under_a_free_key() -> None:
    shelf = Shelf()
    shelf.stored(1, entry(guid="http://news.example/a", link=ARTICLE))
    # The same guid on another link, and the stored entry's own link under a guid written
    # another way: the unmoved one is the stored entry, the other is new.
    moved = entry("Elsewhere", guid="http://news.example/a", link=OTHER)
    same = entry("Story", guid="https://news.example/a", link=ARTICLE)
    base = bounded_key(f"http://news.example/a\n{canonical(moved)}")
    intents = poll(shelf, moved, same)
    assert intents.listed == (1, New(0))  # the entries seen before, then the new ones
    assert [insert.entry.key for insert in intents.inserts] == [base]
    assert base in to_read([moved, same], shelf.names).keys
    shelf.keys.add(base)  # an earlier collision took it
    assert [insert.entry.key for insert in poll(shelf, moved, same).inserts] == [f"{base}\n2"]


# --- retention ----------------------------------------------------------------


def test_a_pruned_entry_that_reappears_is_not_stored_again() -> None:
    gone = entry("Story gone", guid="gone", link="https://a.example/gone")
    shelf = Shelf()
    shelf.stored(1, gone)
    shelf.prune(gone)
    intents = poll(shelf, gone)
    assert not intents.inserts and intents.tombstoned == ("gone",) and intents.listed == ()
    churned = entry("Story gone", guid="gone", link="https://www.a.example/gone/")
    assert poll(shelf, churned).tombstoned == ("gone",)
    assert digest("gone") in to_read([gone], shelf.names).tombstones


# --- one article per canonical link ---------------------------------------------


def test_a_link_moving_onto_another_article_makes_one_article_and_back() -> None:
    shelf = Shelf()
    kept = shelf.stored(1, entry("Kept", guid="k", link=OTHER, categories=("all", "world")))
    moving = entry("Moving", guid="m", link=ARTICLE, categories=("all", "sport"))
    shelf.stored(2, moving)
    moved = entry("Moved", guid="m", link=OTHER + "/", categories=("all", "sport"))
    wanted = to_read([moved], shelf.names)
    assert wanted.locks == {canonical(moved), canonical(moving)} and wanted.articles == {2}
    intents = poll(shelf, moved)
    assert intents.rehomes == (Rehome(2, 1),)
    assert intents.rewrites[0].article == 1
    assert intents.memberships == (Membership(1, kept.sort_time, frozenset({"all", "sport"})),)
    assert intents.dirty == {"all", "sport"}
    # Moved back: it is an article of its own again.
    shelf.names.clear()
    shelf.stored(1, entry("Kept", guid="k", link=OTHER))
    shelf.stored(2, moved, article=Article(1, EARLIER))
    back = poll(shelf, entry("Moved back", guid="m", link=ARTICLE))
    assert back.rewrites[0].article is None and not back.rehomes
    assert back.memberships == (Membership(2, EARLIER, frozenset({"all"})),)


def test_a_new_entry_on_a_link_another_entry_just_left_is_an_article_of_its_own() -> None:
    shelf = Shelf()
    shelf.stored(1, entry("X", guid="x", link=ARTICLE + "-0"))
    shelf.stored(2, entry("Y", guid="y", link=ARTICLE + "-2"))
    x_moved = entry("X moved", guid="x", link=ARTICLE + "-2")
    z = entry("Z", guid="z", link=ARTICLE + "-0")
    intents = poll(shelf, x_moved, z)
    assert intents.rehomes == (Rehome(1, 2),)
    assert intents.inserts[0].article is None  # not a copy of X, which left


def test_a_stored_entry_moving_to_a_free_link_takes_new_entries_of_that_link_as_copies() -> None:
    shelf = Shelf()
    shelf.stored(1, entry("X", guid="x", link=ARTICLE))
    intents = poll(shelf, entry("X moved", guid="x", link=OTHER), entry("Y", guid="y", link=OTHER))
    assert not intents.rehomes and intents.rewrites[0].article is None
    assert intents.inserts[0].article == Article(1, EARLIER)


def test_a_copy_moving_onto_another_article_changes_only_its_own_article() -> None:
    shelf = Shelf()
    shelf.stored(1, entry("A", guid="a", link=ARTICLE))
    shelf.stored(2, entry("B", guid="b", link=OTHER))
    shelf.stored(3, entry("A2", guid="a2", link=ARTICLE), article=Article(1, EARLIER))
    intents = poll(shelf, entry("A2 now B", guid="a2", link=OTHER))
    assert not intents.rehomes and intents.rewrites[0].article == 2
    assert intents.memberships == (Membership(2, EARLIER, frozenset({"all"})),)


def test_a_copy_rewritten_after_its_article_moved_follows_the_article() -> None:
    # A and its copy A2 share a link; C has another. A moves onto C's link: A2 is C's copy
    # now, so A2's own rewrite (same link) puts its categories in C's, never in A's.
    shelf = Shelf()
    shelf.stored(1, entry("A", guid="a", link=ARTICLE, categories=("all", "world")))
    shelf.stored(2, entry("A2", guid="a2", link=ARTICLE), article=Article(1, EARLIER))
    c_time = EARLIER - timedelta(hours=1)
    shelf.stored(3, entry("C", guid="c", link=OTHER), sort_time=c_time)
    a_moved = entry("A moved", guid="a", link=OTHER, categories=("all", "world"))
    a2_changed = entry("A2", guid="a2", link=ARTICLE, body="changed", categories=("all", "sport"))
    intents = poll(shelf, a_moved, a2_changed)
    assert intents.rehomes == (Rehome(1, 3),)
    assert {rewrite.id: rewrite.article for rewrite in intents.rewrites} == {1: 3, 2: 3}
    assert intents.memberships == (Membership(3, c_time, frozenset({"all", "world", "sport"})),)


def test_categories_an_article_gained_this_poll_move_with_it() -> None:
    # The copy is rewritten first (its categories join A), then A moves onto C's link.
    shelf = Shelf()
    shelf.stored(1, entry("A", guid="a", link=ARTICLE))
    shelf.stored(2, entry("A2", guid="a2", link=ARTICLE), article=Article(1, EARLIER))
    shelf.stored(3, entry("C", guid="c", link=OTHER))
    a2_changed = entry("A2", guid="a2", link=ARTICLE, body="changed", categories=("all", "sport"))
    intents = poll(shelf, a2_changed, entry("A moved", guid="a", link=OTHER))
    assert intents.rehomes == (Rehome(1, 3),)
    assert intents.memberships == (Membership(3, EARLIER, frozenset({"all", "sport"})),)
    assert intents.dirty == {"all", "sport"}


@pytest.mark.parametrize("order", ["taker first", "leaver first"])
def test_links_left_in_a_poll_are_free_for_entries_moving_onto_them(order: str) -> None:
    # a moves onto b's link while b moves on to c's: each link keeps an article of its
    # own, whichever of the two the document lists first.
    shelf = Shelf()
    shelf.stored(1, entry("A", guid="a", link=ARTICLE + "-a"))
    shelf.stored(2, entry("B", guid="b", link=ARTICLE + "-b"))
    taker = entry("A", guid="a", link=ARTICLE + "-b")
    leaver = entry("B", guid="b", link=ARTICLE + "-c")
    intents = poll(shelf, *((taker, leaver) if order == "taker first" else (leaver, taker)))
    assert intents.rehomes == ()
    assert {rewrite.id: rewrite.article for rewrite in intents.rewrites} == {1: None, 2: None}
