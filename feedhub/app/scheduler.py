"""The daemon: an APScheduler tick that polls whatever the store says is due, until a signal.

The schedule itself lives in the store (each source's next due time), so a
restart or a second worker picks up where the last one stopped; APScheduler only
runs one short tick job. SIGTERM and SIGINT stop claiming new work, let the
fetches in flight finish (each bounded by the fetch deadline) and exit 0.
SIGHUP reloads the config at the next tick: a valid one replaces the running
hub (new sources are due at once, removed ones stop, changed intervals apply);
an invalid one is logged, one line per problem, and the running config stays.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feedhub.app.hub import Hub
from feedhub.config.settings import Settings, SourceSettings, load_config
from feedhub.core.errors import ConfigError, PublishError
from feedhub.core.text import counted
from feedhub.rules import schedule

log = logging.getLogger(__name__)

TICK_JOB_ID = "feedhub-tick"


class _SkipBusyTick(logging.Filter):
    """A tick that finds the previous one still running is normal here, not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


class Daemon:
    """Runs `hub.run_once()` on every tick until stopped."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.stop_event = threading.Event()
        self.reload_requested = threading.Event()
        self._tick_lock = threading.Lock()
        tick = hub.settings.schedule.tick.total_seconds()
        self.scheduler = BlockingScheduler(timezone=UTC)
        self.scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=tick, timezone=UTC),
            id=TICK_JOB_ID,
            next_run_time=hub.clock(),
            # One tick at a time; a tick that could not start on time is still worth running
            # (the store knows what is due), but several missed ones collapse into one.
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(60, int(tick * 10)),
        )
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        logging.getLogger("apscheduler.scheduler").addFilter(_SkipBusyTick())
        # Two INFO lines per tick ("Running job", "executed successfully") would drown the
        # one line per source per poll; job errors still come through (and via the listener).
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)

    def run(self) -> int:
        """Block until SIGTERM/SIGINT; return the exit code."""
        self._install_signal_handlers()
        self.hub.sync_sources()
        self.hub.store.free_gone_claims(self.hub.claims.holder)  # of a killed run on this machine
        log.info(
            "feedhub daemon started: %s, tick every %gs",
            counted(len(self.hub.settings.sources), "source"),
            self.hub.settings.schedule.tick.total_seconds(),
        )
        started_with = self.hub
        self.scheduler.start()
        # The scheduler has stopped; let a tick in flight finish its sources.
        with self._tick_lock:
            pass
        if self.hub is not started_with:  # reloaded: the caller closes only the first hub
            self.hub.close()
        log.info("feedhub daemon stopped")
        return 0

    def stop(self, *_: Any) -> None:
        if self.stop_event.is_set():
            return
        log.info("stopping: finishing the fetches in flight")
        self.stop_event.set()
        self.scheduler.shutdown(wait=False)

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_reload_signal)

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self.stop()

    def _on_reload_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only a flag here: the tick thread swaps the hub between two polls.
        log.info("received %s: reloading the config at the next tick", signal.Signals(signum).name)
        self.reload_requested.set()

    def reload(self) -> bool:
        """Replace the running hub with one built from the config file, if it is valid."""
        old = self.hub
        try:
            settings = load_config(old.settings.path)
        except ConfigError as error:
            for problem in error.problems:
                log.error("config reload rejected, the running config stays: %s", problem)
            return False
        if settings.hub.database != old.settings.hub.database:
            # What the daemon serves and counts is bound to its store: switching needs a restart.
            log.error(
                "config reload rejected, the running config stays: [hub].database changed; "
                "restart the daemon to switch stores"
            )
            return False
        store = old.store
        hub = Hub(settings, store, old.clock, old.draw)
        hub.metrics = old.metrics  # /metrics, if this process serves it, keeps counting
        hub.sync_sources()
        now = hub.clock()
        store.pull_forward(
            {
                source.url: now + schedule.regular_delay(hub.timing(source))
                for source in _interval_changed(old.settings, settings)
            }
        )
        self.hub = hub
        old.close()
        if settings.schedule.tick != old.settings.schedule.tick:
            self.scheduler.reschedule_job(
                TICK_JOB_ID,
                trigger=IntervalTrigger(
                    seconds=settings.schedule.tick.total_seconds(), timezone=UTC
                ),
            )
        log.info("config reloaded: %s", counted(len(settings.sources), "source"))
        return True

    def _tick(self) -> None:
        with self._tick_lock:
            if self.stop_event.is_set():
                return
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            try:
                self.hub.run_once(stop=self.stop_event)
            except PublishError as error:  # each document's failure is logged already
                log.error("%s", error)

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.exception is not None:
            log.error(
                "tick failed: %s",
                event.exception,
                exc_info=(type(event.exception), event.exception, event.exception.__traceback__),
            )
        else:
            log.warning(
                "tick missed its time (%s); the next one catches up", event.scheduled_run_time
            )


def _interval_changed(old: Settings, new: Settings) -> list[SourceSettings]:
    """The sources of `new` that `old` polled at another interval."""
    return [
        source
        for source in new.sources
        if (before := old.source_by_url(source.url)) is not None
        and old.source_interval(before) != new.source_interval(source)
    ]
