"""Prometheus metrics for `GET /metrics`: this process's polls, and the health of the sources.

Two kinds, so `feedhub serve` in its own process still says something useful:
- `PollMetrics`: counters and a latency histogram the pipeline records as this
  process polls (zero in a process that only serves);
- `StoreCollector`: gauges read from the store at scrape time (sources by
  health and by last HTTP status, time since the last successful poll), the
  same whichever process polled; from the sources table only, so a scrape is
  cheap at any store size.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from feedhub.core.clock import Clock, system_clock
from feedhub.core.errors import HTTPStatusError, SourceError
from feedhub.core.models import FetchOutcome, NotModified, SourceHealth
from feedhub.serve.app import Metrics
from feedhub.store.facade import Store
from feedhub.store.sourcehealth import source_summaries

log = logging.getLogger(__name__)

# Fetch outcomes (the `outcome` label); failures are "error_" + the error's reason.
OK = "ok"  # a body came back (new or not: that is the pipeline's business)
NOT_MODIFIED = "not_modified"  # 304
NO_STATUS = "none"  # the `status` label when no HTTP response came back
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class PollMetrics:
    """What this process's polls did; thread-safe (fetches run in a pool)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._fetches = Counter(
            "feedhub_fetches",
            'Source fetches, by outcome and HTTP status ("none": no response).',
            ["outcome", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "feedhub_fetch_duration_seconds",
            "Time to fetch a source, redirects and body included.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._entries = Counter(
            "feedhub_entries",
            "Entries stored, by change (new, updated).",
            ["change"],
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._responses = 0
        self._not_modified = 0
        Gauge(
            "feedhub_fetch_not_modified_ratio",
            "Share of successful fetches that were 304 Not Modified.",
            registry=self.registry,
        ).set_function(self._not_modified_ratio)

    def timing(self) -> AbstractContextManager[object]:
        """Time one fetch into the latency histogram."""
        return self._latency.time()

    def fetched(self, outcome: FetchOutcome | SourceError) -> None:
        """Count one fetch by its outcome and HTTP status."""
        status: int | None
        if isinstance(outcome, SourceError):
            label = f"error_{outcome.reason}"
            status = outcome.status if isinstance(outcome, HTTPStatusError) else None
        else:
            label = NOT_MODIFIED if isinstance(outcome, NotModified) else OK
            status = 304 if isinstance(outcome, NotModified) else outcome.status
        self._fetches.labels(label, NO_STATUS if status is None else str(status)).inc()
        if not isinstance(outcome, SourceError):
            with self._lock:
                self._responses += 1
                self._not_modified += isinstance(outcome, NotModified)

    def stored(self, new: int, updated: int) -> None:
        self._entries.labels("new").inc(new)
        self._entries.labels("updated").inc(updated)

    def _not_modified_ratio(self) -> float:
        with self._lock:
            return self._not_modified / self._responses if self._responses else 0.0


class StoreCollector(Collector):
    """Gauges computed from the store when scraped."""

    def __init__(self, store: Store, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock

    def describe(self) -> list[Metric]:
        # Registering a collector without describe() would scrape the store right away.
        return [
            GaugeMetricFamily("feedhub_store_up", ""),
            GaugeMetricFamily("feedhub_sources", ""),
            GaugeMetricFamily("feedhub_sources_by_last_status", ""),
            GaugeMetricFamily("feedhub_last_success_timestamp_seconds", ""),
            GaugeMetricFamily("feedhub_seconds_since_last_success", ""),
        ]

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("feedhub_store_up", "1 if the store answered this scrape.")
        try:
            states = source_summaries(self._store)
        except SQLAlchemyError as error:
            log.warning("metrics: cannot read the store: %s", str(error).splitlines()[0])
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        by_health = GaugeMetricFamily(
            "feedhub_sources", "Configured sources, by health.", labels=["health"]
        )
        for health in SourceHealth:
            by_health.add_metric([health.value], sum(s.health == health for s in states))
        yield by_health
        statuses: dict[str, int] = {}
        for state in states:
            key = NO_STATUS if state.last_status is None else str(state.last_status)
            statuses[key] = statuses.get(key, 0) + 1
        by_status = GaugeMetricFamily(
            "feedhub_sources_by_last_status",
            'Sources by the HTTP status of their last poll ("none": no response yet).',
            labels=["status"],
        )
        for status, count in sorted(statuses.items()):
            by_status.add_metric([status], count)
        yield by_status
        successes = [s.last_success for s in states if s.last_success is not None]
        if successes:
            last = max(successes)
            yield GaugeMetricFamily(
                "feedhub_last_success_timestamp_seconds",
                "When a source was last polled successfully (Unix time).",
                value=last.timestamp(),
            )
            yield GaugeMetricFamily(
                "feedhub_seconds_since_last_success",
                "Seconds since a source was last polled successfully.",
                value=max(0.0, (self._clock() - last).total_seconds()),
            )


def metrics_endpoint(
    store: Store, polls: PollMetrics | None = None, clock: Clock = system_clock
) -> Metrics:
    """The `/metrics` callable for the server: the store's gauges, this process's polls (if it
    polls) and the process's own resource use."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, clock))
    if polls is not None:
        registry.register(polls.registry)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)

    def render() -> tuple[bytes, str]:
        return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4

    return render
