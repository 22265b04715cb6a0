"""Routing into categories: labels, keywords, exclusions, the source's own categories, the
per-source cap of a category's feed, and re-routing stored entries when the config changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tomlkit

from feedhub.config.settings import CategorySettings, SourceSettings
from feedhub.rules.routing import ALL, Router, routing_digest
from tests.conftest import ConfigWriter
from tests.feedfiles import Sources, item, rss


@dataclass(frozen=True)
class Entry:
    title: str
    summary_html: str | None = None
    content_html: str | None = None
    labels: tuple[str, ...] = ()


def router(**categories: dict[str, object]) -> Router:
    return Router(
        {
            slug: CategorySettings.model_validate({"title": slug, **c})
            for slug, c in categories.items()
        }
    )


def test_labels_match_after_unescaping_nfc_and_casefolding() -> None:
    routes = router(
        defense={"match": ["Defense &amp; Security"]},
        cafe={"match": ["Cafe\u0301s"]},  # decomposed "é"
        strasse={"match": ["STRASSE"]},
    )
    assert routes.route(Entry("x", labels=("defense & security",)), ()) == {ALL, "defense"}
    assert routes.route(Entry("x", labels=("CAFÉS",)), ()) == {ALL, "cafe"}
    assert routes.route(Entry("x", labels=("Straße",)), ()) == {ALL, "strasse"}
    assert routes.route(Entry("x", labels=("Defense",)), ()) == {ALL}


def test_keywords_are_whole_words_in_title_or_summary() -> None:
    routes = router(energy={"keywords": ["oil", "solar power", "AT&T"]})
    assert "energy" in routes.route(Entry("Oil prices rise"), ())
    assert "energy" in routes.route(
        Entry("Markets", summary_html="<p>More <b>SOLAR</b>\npower</p>"), ()
    )
    assert "energy" in routes.route(Entry("AT&amp;T and friends"), ())
    assert "energy" in routes.route(Entry("Markets", content_html="<p>oil.</p>"), ())
    assert "energy" not in routes.route(Entry("Boiling point"), ())
    assert "energy" not in routes.route(Entry("Toil and trouble", summary_html="oily"), ())


def test_exclude_keeps_an_entry_out_whatever_brought_it_in() -> None:
    routes = router(world={"match": ["World"], "keywords": ["election"], "exclude": ["sponsored"]})
    assert routes.route(Entry("Election night", labels=("World",)), ["world"]) == {ALL, "world"}
    assert routes.route(Entry("Election night (Sponsored)"), ()) == {ALL}
    assert routes.route(Entry("Sponsored", labels=("World",)), ["world"]) == {ALL}


def test_an_entry_lands_in_every_category_it_belongs_to() -> None:
    routes = router(
        world={"match": ["World"]},
        economy={"keywords": ["inflation"]},
        mine={},
        other={"match": ["Sport"]},
    )
    entry = Entry("Inflation abroad", labels=("world",))
    assert routes.route(entry, ["mine"]) == {ALL, "world", "economy", "mine"}


def test_the_routing_digest_changes_with_every_routing_setting() -> None:
    base = {"world": CategorySettings(title="World", match=("World",))}
    sources = (SourceSettings.model_construct(url="https://a.example/feed", categories=()),)
    digest = routing_digest(base, sources)
    assert digest == routing_digest(dict(base), sources)
    retitled = {"world": CategorySettings(title="Earth", match=("World",))}
    assert routing_digest(retitled, sources) == digest  # titles do not route
    for changed in (
        {"world": CategorySettings(title="World", match=("Globe",))},
        {"world": CategorySettings(title="World", match=("World",), keywords=("war",))},
        {"world": CategorySettings(title="World", match=("World",), exclude=("ad",))},
    ):
        assert routing_digest(changed, sources) != digest
    moved = (SourceSettings.model_construct(url="https://a.example/feed", categories=("world",)),)
    assert routing_digest(base, moved) != digest


def test_max_per_source_caps_one_source_in_that_category_only(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    categories = {
        "news": {"title": "News", "max_per_source": 2},
        "uncapped": {"title": "Uncapped"},
    }
    two = Sources(
        tmp_path,
        write_config,
        2,
        categories=categories,
        source_categories=[["news", "uncapped"]] * 2,
    )
    firehose = [
        item(
            f"Flood {n}",
            guid=f"f{n}",
            link=f"https://flood.example/{n}",
            published=f"Fri, 04 Jul 2025 1{n}:00:00 GMT",
        )
        for n in range(6)
    ]
    quiet = item(
        "Quiet", guid="q", link="https://quiet.example/1", published="Fri, 04 Jul 2025 08:00:00 GMT"
    )
    two.poll(rss(*firehose), rss(quiet))
    assert [e.title for e in two.published("news")] == ["Flood 5", "Flood 4", "Quiet"]
    assert len(two.published("uncapped")) == 7
    assert len(two.published("all")) == 7


def test_a_routing_change_re_routes_stored_entries(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    categories = {"energy": {"title": "Energy", "keywords": ["oil"]}}
    one = Sources(tmp_path, write_config, categories=categories)
    one.poll(
        rss(
            item("Oil rises", guid="o", link="https://news.example/oil"),
            item("Solar booms", guid="s", link="https://news.example/solar"),
        )
    )
    [oil] = one.published("energy")
    assert oil.title == "Oil rises"
    document = tomlkit.parse(one.config.read_text())
    document["categories"]["energy"]["keywords"] = ["solar"]
    document["categories"]["sports"] = {"title": "Sports", "match": ["Sport"]}
    one.config.write_text(tomlkit.dumps(document))
    one.reopen()
    one.poll(None)  # nothing new upstream: the feeds change all the same
    [solar] = one.published("energy")
    assert solar.title == "Solar booms"
    assert one.published("sports") == []
    assert {e.id for e in one.published("all")} >= {oil.id, solar.id}


def test_an_unchanged_routing_config_re_routes_nothing(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    one = Sources(
        tmp_path, write_config, categories={"energy": {"title": "E", "keywords": ["oil"]}}
    )
    one.poll(rss(item("Oil rises", guid="o", link="https://news.example/oil")))
    digest = routing_digest(one.hub.settings.categories, one.hub.settings.sources)
    assert not one.hub.store.reroute(digest, lambda url, entry: frozenset())
    assert [entry.title for entry in one.published("energy")] == ["Oil rises"]


def test_only_a_routing_change_that_moves_articles_says_so(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    one = Sources(tmp_path, write_config, categories={"energy": {"title": "E", "keywords": ["x"]}})
    # The first routing of an empty store (a new hub) moves nothing.
    assert not one.hub.store.reroute("first", lambda url, entry: frozenset({ALL, "energy"}))
    one.poll(rss(item("Oil rises", guid="o", link="https://news.example/oil")))
    assert one.hub.store.reroute("second", lambda url, entry: frozenset({ALL, "energy"}))
    assert one.hub.store.dirty_categories() == {"energy"}
    assert not one.hub.store.reroute("third", lambda url, entry: frozenset({ALL, "energy"}))
