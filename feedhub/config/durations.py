"""Durations as the config writes them: "90s", "15m", "2h", "1d", or a number of seconds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LONGEST_SECONDS = 100 * 366 * 86400
DURATION_HINT = 'write a number and a unit, like "90s", "15m", "2h" or "1d"'


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '2h', '1d' (or a number of seconds) as a positive timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Clamped first: an integer too large for a float would overflow (NaN ends up at -1).
        seconds = float(max(-1, min(value, _LONGEST_SECONDS + 1)))
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration; {DURATION_HINT}")
    if seconds > _LONGEST_SECONDS:  # timedelta cannot hold much more
        raise ValueError(f"{value!r} is longer than 100 years; {DURATION_HINT}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0 and seconds >= _UNIT_SECONDS[unit]:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
