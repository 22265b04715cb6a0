"""The hub: one config's steps wired together, and a run of them: poll, prune, publish.

`Hub` holds what a config builds (settings, store, fetcher, parser pool, router, clock,
random draws for jitter) and runs a pass: a `Poll` of the due sources
(`feedhub.app.poll`), retention, then publishing what `feedhub.rules.publishing`
decides from what it finds (dirty feeds, missing files, digests of what the site and
feeds show). It decides nothing itself.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from feedhub.app.claims import Claims
from feedhub.app.metrics import PollMetrics
from feedhub.app.poll import Poll, PollSteps, PollSummary, Progress
from feedhub.app.websub import WebSub
from feedhub.config.settings import Settings, SourceSettings
from feedhub.core.clock import Clock, system_clock
from feedhub.fetch.client import Fetcher
from feedhub.parse.docguard import DocumentLimits
from feedhub.parse.pool import Parser
from feedhub.publish.catalog import feeds_of
from feedhub.publish.health import health_feed_path, publish_health
from feedhub.publish.publisher import feeds_are_current, missing_outputs, publish, site_is_current
from feedhub.rules import neardup, websub
from feedhub.rules.publishing import PublishPlan, plan_publish, site_may_differ
from feedhub.rules.routing import Routable, Router, routing_digest
from feedhub.rules.schedule import Timing
from feedhub.store.facade import Store
from feedhub.store.retention import prune_if_due

log = logging.getLogger(__name__)


class Hub:
    """One configured hub. A hub is built for one config; the daemon builds a new one on a
    config reload."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock = system_clock,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.draw = draw
        self.fetcher = Fetcher(settings.fetch)
        self.router = Router(settings.categories)
        self.metrics = PollMetrics()
        self.parser = Parser(
            DocumentLimits(settings.fetch.max_entries_per_document, settings.fetch.max_field_bytes)
        )
        self.claims = Claims(store, settings.schedule.lease, clock)
        self._sources = {source.url: source for source in settings.sources}
        self._first_publish = True  # until the outputs were checked against the settings
        self.websub = WebSub(settings, store, self.fetcher, clock)

    def close(self) -> None:
        self.fetcher.close()
        self.parser.stop()

    def sync_sources(self) -> None:
        """Make the store follow the config: its sources, and its entries' categories."""
        self.store.sync_sources(self.settings.sources, self.clock())
        digest = routing_digest(self.settings.categories, self.settings.sources)
        if self.store.reroute(digest, self._route_stored):
            log.info("routing changed: stored entries moved into their new categories")

    def run_once(
        self,
        *,
        everything: bool = False,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> PollSummary:
        """Poll what is due (everything, if asked), then republish what changed, then
        WebSub's work: deliveries of the changed feeds, subscriptions to sources' hubs."""
        self.websub.refresh()
        summary = self.poll(everything=everything, stop=stop, progress=progress)
        prune_if_due(self.store, self.settings.hub, self.clock())
        try:
            summary.published = self.publish_changed(polled=summary.polled > 0)
        finally:  # a document that could not be published does not keep this one back
            if summary.health_events or not health_feed_path(self.settings).exists():
                publish_health(self.store, self.settings, self.clock())
        self.websub.run()
        return summary

    def poll(
        self,
        *,
        everything: bool = False,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> PollSummary:
        """Poll the due sources (every scheduled one, with `everything`): see `Poll.run`."""
        steps = PollSteps(
            settings=self.settings,
            store=self.store,
            fetcher=self.fetcher,
            parser=self.parser,
            router=self.router,
            metrics=self.metrics,
            clock=self.clock,
            claims=self.claims,
            sources=self._sources,
            timing=self.timing,
            websub=self.websub,
            neardup=neardup.policy_of(self.settings),
        )
        return Poll(steps).run(everything=everything, stop=stop, progress=progress)

    def publish_changed(self, *, polled: bool) -> list[str]:
        """Publish what `feedhub.rules.publishing` decides; return the feeds republished."""
        plan = self._publish_plan(polled=polled)
        self._first_publish = False
        if plan.everything:
            publish(self.store, self.settings)
            return sorted(self._feed_slugs())
        if plan.anything:
            publish(self.store, self.settings, only=plan.only, forced=plan.forced)
        return list(plan.only)

    def _publish_plan(self, *, polled: bool) -> PublishPlan:
        """What the rule needs, looked up only where it can matter (an idle tick compares
        nothing but the dirty marks and the files)."""
        first = self._first_publish
        missing, site_missing = missing_outputs(self.settings)
        compare_site = site_may_differ(polled=polled, first_publish=first)
        return plan_publish(
            feeds_current=feeds_are_current(self.store, self.settings) if first else None,
            feeds=self._feed_slugs(),
            dirty=self.store.dirty_categories(),
            missing=missing,
            site_missing=site_missing,
            site_current=site_is_current(self.store, self.settings) if compare_site else None,
        )

    def publish_all(self) -> None:
        try:
            publish(self.store, self.settings)
        finally:
            publish_health(self.store, self.settings, self.clock())

    def _feed_slugs(self) -> set[str]:
        return {feed.slug for feed in feeds_of(self.settings)}

    def _route_stored(self, source_url: str, entry: Routable) -> frozenset[str]:
        source = self._sources.get(source_url)
        return self.router.route(entry, source.categories if source else ())

    def timing(self, source: SourceSettings) -> Timing:
        """The schedule rules for `source`, with a fresh random draw for its jitter."""
        schedule = self.settings.schedule
        return Timing(
            interval=websub.poll_interval(
                self.settings.source_interval(source),
                schedule.max_interval,
                pushed=self.websub.is_pushing(source.url),
            ),
            min_interval=schedule.min_interval,
            max_interval=schedule.max_interval,
            spread=self.draw(),
        )
