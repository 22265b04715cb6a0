"""The daemon: an APScheduler tick that polls whatever the store says is due, until a signal.

The schedule itself lives in the store (each source's next due time), so a
restart or a second worker picks up where the last one stopped; APScheduler only
runs one short tick job. SIGTERM and SIGINT stop claiming new work, let the
fetches in flight finish (each bounded by the fetch deadline) and exit 0.
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

from feedhub.pipeline import Hub

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

    def run(self) -> int:
        """Block until SIGTERM/SIGINT; return the exit code."""
        self._install_signal_handlers()
        self.hub.sync_sources()
        log.info(
            "feedhub daemon started: %d sources, tick every %gs",
            len(self.hub.settings.sources),
            self.hub.settings.schedule.tick.total_seconds(),
        )
        self.scheduler.start()
        # The scheduler has stopped; let a tick in flight finish its sources.
        with self._tick_lock:
            pass
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

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self.stop()

    def _tick(self) -> None:
        with self._tick_lock:
            if self.stop_event.is_set():
                return
            self.hub.run_once(stop=self.stop_event)

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
