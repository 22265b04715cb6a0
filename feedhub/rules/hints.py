"""Read what a server asks of our schedule from its response headers (pure parsing).

- `Cache-Control: max-age` (or else `Expires`): how long the document stays fresh.
- `Retry-After` (seconds or an HTTP date): how long to wait before asking again.

Dates are measured against the response's own `Date` header when it has one, so a
server whose clock is off by an hour still gets the pause it meant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from feedhub.core.clock import ensure_utc

_MAX_AGE = re.compile(r'(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)', re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:[,=]|$)", re.IGNORECASE)


def fresh_for(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """How long the response says it stays fresh, or None if it does not say."""
    cache_control = headers.get("cache-control", "")
    if _NO_CACHE.search(cache_control):
        return None
    if match := _MAX_AGE.search(cache_control):
        return timedelta(seconds=int(match.group(1)))
    return _until(headers.get("expires"), headers, now)


def retry_after(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """The pause `Retry-After` asks for, or None without a usable one."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    return _until(value, headers, now)


def _until(value: str | None, headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """The time from the response's Date (else `now`) to the HTTP date `value`."""
    moment = _http_date(value)
    if moment is None:
        return None
    reference = _http_date(headers.get("date")) or now
    return max(moment - reference, timedelta(0))


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return ensure_utc(parsedate_to_datetime(value.strip()))
    except (TypeError, ValueError, IndexError):
        return None
