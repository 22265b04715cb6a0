"""Near-duplicate detection measured on a labelled corpus, and the shown copy and ids under
any arrival order of a story's copies (a property test on a real store)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhub.config.settings import SourceSettings, load_config
from feedhub.core.errors import ConfigError
from feedhub.rules import neardup
from feedhub.store.facade import Store
from tests.neardup_corpus import Copy, Item, by_id, corpus, routed
from tests.test_neardup_store import latest
from tests.test_workers import LEASE, NOW, polled

# What the README reports; the test fails if detection gets worse than this.
PRECISION = 1.0
RECALL = 1.0


def pairs() -> Iterator[tuple[Item, Item, bool]]:
    for a, b in itertools.combinations(corpus(), 2):
        yield a, b, a.story == b.story


def text(item: Item) -> neardup.ReaderText:
    return neardup.reader_text(item.title, None, item.body_html)


def found(a: Item, b: Item) -> bool:
    """Whether storing `b` after `a` would join them: a shared candidate key, then the
    decision on the texts."""
    shared = set(neardup.candidate_keys(text(a))) & set(neardup.candidate_keys(text(b)))
    return bool(shared) and neardup.same_story(text(a), text(b), neardup.DEFAULT_THRESHOLD)


def test_sketches_are_datasketchs_minhash() -> None:
    """Our MinHash gives datasketch's values, so keys filed by any version match."""
    from datasketch import MinHash

    for item in corpus()[:40]:
        shingles = [" ".join(s).encode() for s in sorted(text(item).opening)]
        reference = MinHash(num_perm=neardup.BANDS * neardup.ROWS, seed=neardup.SEED)
        reference.update_batch(shingles)
        assert neardup.minhash(shingles) == [int(value) for value in reference.hashvalues]


def test_precision_and_recall_on_the_labelled_corpus() -> None:
    outcomes = [(found(a, b), same) for a, b, same in pairs()]
    true_positives = sum(1 for got, same in outcomes if got and same)
    found_count = sum(1 for got, _ in outcomes if got)
    same_count = sum(1 for _, same in outcomes if same)
    assert same_count >= 120 and len(outcomes) - same_count >= 1400  # the corpus is not trivial
    assert true_positives / found_count >= PRECISION
    assert true_positives / same_count >= RECALL


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("lookalike/briefing-monday", "lookalike/briefing-monday-2"),
        ("lookalike/weather-1", "lookalike/weather-2"),
        ("lookalike/letters-1", "lookalike/letters-2"),
        ("quake/original", "lookalike/quake-followup"),
        ("quake/original", "lookalike/quake-correction"),
        ("quake/intro", "lookalike/quake-correction-top"),
        ("lookalike/footer-1", "lookalike/footer-2"),
        ("lookalike/short-1", "lookalike/short-2"),
        ("fed/original", "lookalike/fed-minutes"),
    ],
)
def test_look_alikes_are_not_the_same_story(first: str, second: str) -> None:
    items = by_id()
    assert not neardup.same_story(text(items[first]), text(items[second]), 0.3)


@pytest.mark.parametrize(
    "variant", ["case", "intro", "dateline", "edited", "headline", "standfirst"]
)
def test_each_kind_of_variation_is_the_same_story(variant: str) -> None:
    items = by_id()
    for story in ("fed", "quake", "airline", "river", "chip", "vaccine"):
        assert found(items[f"{story}/original"], items[f"{story}/{variant}"]), story


def test_boilerplate_markup_and_tracking_are_not_what_is_compared() -> None:
    plain = neardup.reader_text("Title", None, "<p>WASHINGTON (AP) \u2014 The words.</p>")
    dressed = neardup.reader_text(
        "TITLE",
        "<p>The words.</p><p>The post Title appeared first on Ledger.</p>"
        '<p><a href="https://ledger.example/a?utm_source=rss">Read more</a></p>'
        "<p>Reporting by Ana Silva; Editing by Tom Hogue</p>",
        None,
    )
    assert plain.body == dressed.body == ("the", "words")
    assert plain.title == dressed.title


SITES = ("ledger", "courier", "gazette", "herald")
VARIANTS = ("original", "case", "dateline", "intro")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.permutations(range(len(SITES))),
    minutes=st.lists(st.integers(0, 2), min_size=len(SITES), max_size=len(SITES)),
)
def test_the_shown_copy_and_the_id_do_not_depend_on_arrival_order(
    tmp_path: Path, order: list[int], minutes: list[int]
) -> None:
    """Four sites publish one story (ties in time are likely); whatever order the copies
    arrive in, the category ends up showing the same copy with the others as related
    links, and the id it was first published under never changes."""
    story = by_id()
    database = tmp_path / f"order-{'-'.join(map(str, order))}-{'-'.join(map(str, minutes))}"
    store = Store.open(f"sqlite:///{database}.sqlite")
    try:
        store.sync_sources(
            [SourceSettings(url=f"https://{site}.example/feed", name=site) for site in SITES], NOW
        )
        states = {s.name: s for s in store.claim_due_sources("test", NOW, LEASE, None)}
        showing = neardup.Showing(order={s: n for n, s in enumerate(states[x].url for x in SITES)})
        ids: set[str] = set()
        for number in order:
            site = SITES[number]
            copy = Copy(
                story[f"fed/{VARIANTS[number]}"], site, NOW - timedelta(minutes=minutes[number])
            )
            store.store_entries(states[site], routed(site, [copy]), polled(states[site]), NOW)
            [entry] = latest(store, "all", 10, showing=showing)
            ids.add(entry.uid)
        earliest = min(range(len(SITES)), key=lambda n: (-minutes[n], n))
        assert len(ids) == 1
        assert entry.source.name == SITES[earliest]
        others = [SITES[n] for n in sorted(range(len(SITES)), key=lambda n: (-minutes[n], n))]
        assert [related.title for related in entry.related] == others[1:]
    finally:
        store.close()


CONFIG = """
[dedupe]
threshold = 0.8

[categories.raw]
title = "Raw"
dedupe = false

[categories.news]
title = "News"

[[sources]]
url = "https://a.example/feed"

[[sources]]
url = "https://b.example/feed"
dedupe = false
"""


def test_the_config_turns_detection_off_per_source_and_per_category(tmp_path: Path) -> None:
    path = tmp_path / "feedhub.toml"
    path.write_text(CONFIG)
    configured = load_config(path)
    policy = neardup.policy_of(configured)
    assert policy.threshold == 0.8
    assert policy.applies_to("https://a.example/feed")
    assert not policy.applies_to("https://b.example/feed")
    assert not neardup.showing_of(configured, "raw").merged
    news = neardup.showing_of(configured, "news")
    assert news.merged and news.order == {"https://a.example/feed": 0, "https://b.example/feed": 1}


def test_a_threshold_out_of_range_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "feedhub.toml"
    path.write_text("[dedupe]\nthreshold = 2\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    [line] = str(raised.value).splitlines()
    assert "[dedupe].threshold" in line and "1" in line
