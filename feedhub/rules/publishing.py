"""Which feeds and pages to publish after a poll: a pure decision over what the app found.

Feeds are republished when their entries changed (dirty) or their files are missing;
every feed when the config changed what the feeds show (titles, URLs, sizes). The
front page and sources.opml go with any feed, when their files are missing, or when
what they show of the sources or the config changed. Comparing the site with what it
would show costs queries, so it is asked for only when it can have changed: after a
poll, or on a hub's first publish.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """What to publish: every feed, or the feeds `only` (with `forced` among them
    regenerated whatever their state); the site's own pages go with any of them."""

    everything: bool = False
    only: tuple[str, ...] = ()
    forced: tuple[str, ...] = ()
    site: bool = False

    @property
    def anything(self) -> bool:
        return self.everything or bool(self.only) or self.site


EVERYTHING = PublishPlan(everything=True, site=True)


def site_may_differ(*, polled: bool, first_publish: bool) -> bool:
    """Whether the front page and sources.opml can show something new: only a poll (the
    sources' health) or a hub's first publish (the config) changes what they show."""
    return polled or first_publish


def plan_publish(
    *,
    feeds_current: bool | None,
    feeds: Set[str],
    dirty: Set[str],
    missing: Set[str],
    site_missing: bool,
    site_current: bool | None,
) -> PublishPlan:
    """The feeds whose entries changed or whose files are missing, and the site when a feed
    is published, its files are missing, or it is known not to be current (`site_current`
    is None when it was not compared); every feed when the feeds were compared with the
    config (`feeds_current` is None when not) and are not current."""
    if feeds_current is False:
        return EVERYTHING
    targets = tuple(sorted((dirty | missing) & feeds))
    site = bool(targets) or site_missing or site_current is False
    return PublishPlan(only=targets, forced=tuple(sorted(missing & feeds)), site=site)
