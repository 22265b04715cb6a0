"""Which feeds and pages a run publishes: the pure rule (`feedhub.rules.publishing`)."""

from __future__ import annotations

from feedhub.rules.publishing import EVERYTHING, PublishPlan, plan_publish, site_may_differ

FEEDS = frozenset({"all", "news", "tech"})


def plan(**changes: object) -> PublishPlan:
    inputs: dict[str, object] = {
        "feeds_current": None,
        "feeds": FEEDS,
        "dirty": frozenset(),
        "missing": frozenset(),
        "site_missing": False,
        "site_current": None,
    }
    inputs.update(changes)
    return plan_publish(**inputs)  # type: ignore[arg-type]


def test_an_idle_tick_publishes_nothing() -> None:
    assert plan() == PublishPlan()
    assert not plan().anything


def test_dirty_feeds_are_published_with_the_site() -> None:
    assert plan(dirty={"news"}) == PublishPlan(only=("news",), site=True)


def test_a_dirty_mark_for_a_feed_no_longer_configured_is_ignored() -> None:
    assert plan(dirty={"gone"}) == PublishPlan()


def test_missing_files_force_their_feed_and_the_site() -> None:
    assert plan(missing={"tech"}, dirty={"news"}) == PublishPlan(
        only=("news", "tech"), forced=("tech",), site=True
    )
    assert plan(site_missing=True) == PublishPlan(site=True)


def test_the_site_alone_when_it_no_longer_shows_what_it_would() -> None:
    assert plan(site_current=False) == PublishPlan(site=True)
    assert plan(site_current=True) == PublishPlan()


def test_everything_when_the_config_changed_what_the_feeds_show() -> None:
    assert plan(feeds_current=False, dirty={"news"}) == EVERYTHING
    assert plan(feeds_current=True) == PublishPlan()


def test_the_site_is_compared_only_after_a_poll_or_on_the_first_publish() -> None:
    assert site_may_differ(polled=True, first_publish=False)
    assert site_may_differ(polled=False, first_publish=True)
    assert not site_may_differ(polled=False, first_publish=False)
