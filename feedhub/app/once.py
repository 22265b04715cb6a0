"""`feedhub run --once`: one pass, as cron runs it or an operator at a terminal.

SIGINT (Ctrl-C) or SIGTERM stops the pass promptly: no more sources are
claimed, fetches not yet started are cancelled and those in flight cut short
(`Fetcher.stop`), and every claim not stored is given back, so the next run
polls those sources at once. The command says so in one line and exits 128 +
the signal's number; a second signal ends the process at once. At a terminal,
a progress line shows the sources done of those due, the failures and the rate
(rich, on stderr; never when stderr is a file or a pipe, as under cron).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from feedhub.app import exits, logs
from feedhub.app.hub import Hub
from feedhub.app.poll import PollSummary, Progress
from feedhub.core.text import counted
from feedhub.fetch.client import Fetcher
from feedhub.store.claims import Held

log = logging.getLogger(__name__)


def run_once(hub: Hub, *, everything: bool) -> int:
    """Poll what is due (everything, if asked) and publish; print what happened; the exit
    code."""
    with _stopping(hub.fetcher) as stopping:
        hub.sync_sources()
        hub.store.free_gone_claims(hub.claims.holder)  # a killed run's sources need not wait
        due, held = hub.store.count_due(hub.clock(), hub.claims.holder, everything=everything)
        with _progress(due - len(held)) as progress:
            summary = hub.run_once(everything=everything, stop=stopping.event, progress=progress)
    if stopping.signal is not None:
        click.echo(
            f"feedhub: stopped by {stopping.signal.name}: polled {summary.polled} of "
            f"{counted(due - len(held), 'due source')}; the others were given back and the "
            "next run polls them",
            err=True,
        )
        return exits.STOPPED + stopping.signal
    if held and not summary.polled:
        click.echo(f"nothing polled: {_held(held)}")
    else:
        click.echo(_done(hub, summary) + (f"; {_held(held)}" if held else ""))
    return exits.OK


def _done(hub: Hub, summary: PollSummary) -> str:
    return (
        f"polled {counted(summary.polled, 'source')} ({summary.failed} failing): "
        f"{summary.new_entries} new, {summary.updated_entries} updated entries; "
        f"feeds in {hub.settings.hub.output_dir}"
    )


def _held(held: list[Held]) -> str:
    holders = ", ".join(sorted({claim.holder for claim in held}))
    until = max(claim.until for claim in held).strftime("%H:%M:%SZ")
    return (
        f"{counted(len(held), 'due source')} held by another run ({holders}) until {until} "
        "at the latest; see `feedhub status`"
    )


class _Stopping:
    """What SIGINT or SIGTERM asked: the first stops the pass, a second kills."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.event = threading.Event()
        self.signal: signal.Signals | None = None
        self._fetcher = fetcher

    def on_signal(self, number: int, _frame: FrameType | None) -> None:
        if self.signal is not None:  # asked twice: no more waiting
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
            return
        self.signal = signal.Signals(number)
        log.debug("received %s: stopping", self.signal.name)
        self.event.set()
        self._fetcher.stop()


@contextmanager
def _stopping(fetcher: Fetcher) -> Iterator[_Stopping]:
    """SIGINT and SIGTERM stop the pass while the block runs."""
    stopping = _Stopping(fetcher)
    before = {
        number: signal.signal(number, stopping.on_signal)
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stopping
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


@contextmanager
def _progress(total: int) -> Iterator[Progress | None]:
    """A live progress line on stderr, if it is a terminal and there is work to show."""
    if total <= 0 or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.file_proxy import FileProxy
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Display

    console = Console(file=sys.stderr)
    display = Display(
        TextColumn("polled {task.completed:.0f} of {task.total:.0f} due sources"),
        BarColumn(),
        TextColumn("{task.fields[failed]} failing"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = display.add_task("poll", total=total, failed=0, rate="")

    def show(summary: PollSummary) -> None:
        elapsed = display.tasks[0].elapsed or 0
        rate = f"{summary.polled / elapsed:.1f}/s" if elapsed else ""
        display.update(task, completed=summary.polled, failed=summary.failed, rate=rate)

    with display, logs.lines_to(FileProxy(console, sys.stderr)):
        yield show
