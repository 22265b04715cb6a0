"""The report behind `feedhub status`: every configured source's health, as a table or JSON.

Rows come from the config (which sources exist, their categories) joined with
the store (how their polls went); a source the store has not polled yet is "new".
URLs, in their columns and in errors, are shown without userinfo and secret query
values (`feedhub.core.urls.redact_url`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from feedhub.config.settings import Settings
from feedhub.core.models import SourceHealth, SourceState
from feedhub.core.urls import redact_text, redact_url

# The keys of `feedhub status --json`, in order; scripts rely on them.
JSON_KEYS = (
    "name",
    "url",
    "effective_url",
    "categories",
    "state",
    "last_attempt",
    "last_success",
    "last_status",
    "has_validators",
    "entries",
    "failures",
    "last_error",
    "next_due",
    "push",
)
_COLUMNS = (
    "NAME",
    "STATE",
    "FAILURES",
    "HTTP",
    "VALIDATORS",
    "ENTRIES",
    "LAST ATTEMPT",
    "LAST SUCCESS",
    "NEXT DUE",
    "PUSH",
    "CATEGORIES",
    "URL",
    "LAST ERROR",
)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source's line in the report."""

    name: str
    url: str  # as configured, redacted
    effective_url: str | None  # where a permanent redirect moved it, if it did
    categories: tuple[str, ...]
    state: SourceHealth
    last_attempt: datetime | None
    last_success: datetime | None
    last_status: int | None
    has_validators: bool
    entries: int
    failures: int
    last_error: str | None
    next_due: datetime | None
    push: bool = False  # its WebSub hub pushes new entries

    def as_json(self) -> dict[str, Any]:
        values: dict[str, Any] = {key: getattr(self, key) for key in JSON_KEYS}
        values |= {key: _iso(value) for key, value in values.items() if isinstance(value, datetime)}
        values["state"] = self.state.value
        values["categories"] = list(self.categories)
        return values

    def cells(self) -> tuple[str, ...]:
        url = f"{self.url} -> {self.effective_url}" if self.effective_url else self.url
        return (
            self.name,
            self.state.value,
            str(self.failures),
            _text(self.last_status),
            "yes" if self.has_validators else "no",
            str(self.entries),
            _text(self.last_attempt),
            _text(self.last_success),
            _text(self.next_due),
            "yes" if self.push else "no",
            ",".join(self.categories) or "-",
            url,
            self.last_error or "-",
        )


def source_statuses(
    settings: Settings, states: Iterable[SourceState], pushing: Set[str] = frozenset()
) -> list[SourceStatus]:
    """One row per configured source, in config order; `pushing`: the URLs of the sources
    whose WebSub hubs push to feedhub."""
    known = {state.url: state for state in states}
    return [
        replace(
            _row(source.name, source.url, source.categories, known.get(source.url)),
            push=source.url in pushing,
        )
        for source in settings.sources
    ]


def any_troubled(rows: Iterable[SourceStatus]) -> bool:
    """Whether a source needs the operator: failing, or gone (to retry or remove)."""
    return any(row.state.troubled for row in rows)


def render_json(rows: Sequence[SourceStatus]) -> str:
    return json.dumps([row.as_json() for row in rows], indent=2, ensure_ascii=False)


def render_table(rows: Sequence[SourceStatus]) -> str:
    """Aligned columns, one line per source; the last column (the error) is not padded."""
    lines = [_COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(_COLUMNS) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[-1]]
        )
        for line in lines
    )


def _row(
    name: str, url: str, categories: tuple[str, ...], state: SourceState | None
) -> SourceStatus:
    url = redact_url(url)
    if state is None:
        return SourceStatus(
            name, url, None, categories, SourceHealth.NEW, None, None, None, False, 0, 0, None, None
        )
    return SourceStatus(
        name=name,
        url=url,
        effective_url=state.effective_url and redact_url(state.effective_url),
        categories=categories,
        state=state.health,
        last_attempt=state.last_attempt,
        last_success=state.last_success,
        last_status=state.last_status,
        has_validators=state.has_validators,
        entries=state.entries,
        failures=state.failures,
        last_error=state.last_error and redact_text(state.last_error),
        next_due=state.next_due,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: datetime | int | None) -> str:
    if value is None:
        return "-"
    return _iso(value) if isinstance(value, datetime) else str(value)
