"""What the command line logs, and where: one line per source that changed or failed.

At the default level (INFO) a poll logs a line per source that brought new or
updated entries, a line per failure (once: a source that starts failing says so
in its health event), and the daemon's start and stop; 304s, unchanged bodies,
a new store's schema and the libraries' chatter (APScheduler's "Adding job",
"Scheduler started") are DEBUG, shown with -v. Alembic says only what goes wrong.
URLs in every line are redacted (`feedhub.core.urls.RedactSecrets`).
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from feedhub.core.urls import RedactSecrets

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: int) -> None:
    """Log at `level` to stderr; the libraries at WARNING unless `level` is DEBUG."""
    logging.basicConfig(level=level, format=_FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())  # no userinfo or secret query value in any line
    quiet = level if level <= logging.DEBUG else max(level, logging.WARNING)
    logging.getLogger("apscheduler").setLevel(quiet)
    # Alembic reports every migration step at INFO; feedhub logs one line per upgrade itself.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))


@contextmanager
def lines_to(stream: io.TextIOBase) -> Iterator[None]:
    """Send the log lines bound for stderr to `stream` while the block runs (to a live
    progress display, which writes them above itself instead of through it)."""
    moved = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    ]
    for handler in moved:
        handler.setStream(stream)
    try:
        yield
    finally:
        for handler in moved:
            handler.setStream(sys.stderr)
