"""Warnings about a config that loads but may not do what was meant; they never fail a load.

`feedhub check` prints them: an interval the schedule will clamp (and what it becomes),
a duration written as a bare number, no base_url (self links point at this machine), no
sources at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from feedhub.config.durations import format_duration, parse_duration
from feedhub.config.problems import source_where, toml_value
from feedhub.config.settings import ScheduleSettings, Settings, read_toml, validate_config

_DURATION_KEYS = ("interval", "min_interval", "max_interval", "tick", "lease")


def check_config(path: Path) -> tuple[Settings, list[str]]:
    """The validated settings of `path` (ConfigError when invalid) and its warnings."""
    raw = read_toml(path)
    settings = validate_config(raw, path)
    return settings, config_warnings(raw, settings)


def config_warnings(raw: Mapping[str, Any], settings: Settings) -> list[str]:
    hub = raw.get("hub")
    warnings = []
    if not isinstance(hub, dict) or "base_url" not in hub:
        warnings.append(
            f"[hub].base_url is not set, so the published self links and the front page's "
            f"links point at {settings.hub.base_url}; set it to where the files are served, "
            'like base_url = "https://feeds.example.org/"'
        )
    if not settings.sources:
        warnings.append(
            "no [[sources]]: nothing will be fetched; add one with `feedhub sources add URL`"
        )
    schedule = raw.get("schedule")
    if isinstance(schedule, dict):
        warnings += [
            _bare_number(f"[schedule].{key}", key, schedule[key])
            for key in _DURATION_KEYS
            if _is_number(schedule.get(key))
        ]
    warnings += _clamped("[schedule].interval", settings.schedule.interval, settings.schedule)
    sources = raw.get("sources")
    for number, source in enumerate(settings.sources, start=1):
        where = source_where(number, source.name)
        given = sources[number - 1].get("interval") if isinstance(sources, list) else None
        if _is_number(given):
            warnings.append(_bare_number(where + ": interval", "interval", given))
        if source.interval is not None:
            warnings += _clamped(where + ": interval", source.interval, settings.schedule)
    return warnings


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bare_number(where: str, key: str, value: object) -> str:
    read_as = format_duration(parse_duration(value))
    return (
        f"{where} = {toml_value(value)} has no unit and is read as seconds ({read_as}); "
        f'write the unit, like {key} = "{read_as}"'
    )


def _clamped(where: str, interval: timedelta, schedule: ScheduleSettings) -> list[str]:
    if interval < schedule.min_interval:
        bound, words = schedule.min_interval, "shorter than [schedule].min_interval"
    elif interval > schedule.max_interval:
        bound, words = schedule.max_interval, "longer than [schedule].max_interval"
    else:
        return []
    return [
        f"{where} {format_duration(interval)} is {words} ({format_duration(bound)}), "
        f"so it is polled every {format_duration(bound)}; raise or lower one of them"
    ]
