"""The report behind `feedhub status`: every configured source's health, as a table or JSON.

Rows come from the config (which sources exist, their categories) joined with
the store (how their polls went, who holds them now); a source the store has
not polled yet is "new". The table fits the terminal (`feedhub.app.table`). URLs,
in their columns and in errors, are shown without userinfo and secret query values
(`feedhub.core.urls.redact_url`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from feedhub.app.table import Column, render
from feedhub.config.settings import Settings
from feedhub.core.models import SourceHealth, SourceState
from feedhub.core.urls import redact_text, redact_url
from feedhub.store.claims import Held

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
    "held_by",
    "held_until",
)
# At a narrow terminal the lowest drop_rank goes first; names, URLs and errors are cut.
_COLUMNS = (
    Column("NAME", shrink_to=16),
    Column("STATE"),
    Column("FAILURES", drop_rank=6),
    Column("HTTP", drop_rank=5),
    Column("VALIDATORS", drop_rank=1),
    Column("ENTRIES", drop_rank=7),
    Column("LAST ATTEMPT", drop_rank=2),
    Column("LAST SUCCESS", drop_rank=4),
    Column("NEXT DUE", drop_rank=8),
    Column("PUSH", drop_rank=0),
    Column("CATEGORIES", shrink_to=12, drop_rank=3),
    Column("URL", shrink_to=24, drop_rank=9),
    Column("LAST ERROR", shrink_to=24),
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
    held_by: str | None = None  # the worker polling it right now: "HOST pid PID"
    held_until: datetime | None = None  # when that worker's claim runs out

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
    settings: Settings,
    states: Iterable[SourceState],
    held: Mapping[str, Held] | None = None,
    pushing: Set[str] = frozenset(),
) -> list[SourceStatus]:
    """One row per configured source, in config order; `held` maps URLs to their claims,
    `pushing` holds the URLs of the sources whose WebSub hubs push to feedhub."""
    known = {state.url: state for state in states}
    rows = [
        replace(
            _row(source.name, source.url, source.categories, known.get(source.url)),
            push=source.url in pushing,
        )
        for source in settings.sources
    ]
    return [_held(row, (held or {}).get(row.url)) for row in rows]


def _held(row: SourceStatus, claim: Held | None) -> SourceStatus:
    return row if claim is None else replace(row, held_by=claim.holder, held_until=claim.until)


def any_troubled(rows: Iterable[SourceStatus]) -> bool:
    """Whether a source needs the operator: failing, or gone (to retry or remove)."""
    return any(row.state.troubled for row in rows)


def render_json(rows: Sequence[SourceStatus]) -> str:
    return json.dumps([row.as_json() for row in rows], indent=2, ensure_ascii=False)


def render_table(rows: Sequence[SourceStatus], width: int = 0) -> str:
    """A header and one line per source, fitted to `width` (0: whole lines); then a line
    per source another worker holds right now."""
    table = render(_COLUMNS, [row.cells() for row in rows], width)
    held = [
        f"{row.name}: being polled by {row.held_by} (claim until {_text(row.held_until)})"
        for row in rows
        if row.held_by
    ]
    return "\n".join([table, *held])


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
