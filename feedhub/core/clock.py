"""The injectable clock: every "now" in feedhub comes from a `Clock`.

Tests pass a clock they can move instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def ensure_utc(moment: datetime) -> datetime:
    """Treat a naive datetime as UTC (documented rule) and convert aware ones to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
