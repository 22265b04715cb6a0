"""Pure decisions about a source after a poll: its health, failure streak and next due time.

Nothing here touches the network, the store or the clock: the pipeline passes
in the state from the store, what the poll produced and "now", and stores the
`PollResult` that comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feedhub.errors import HTTPStatusError, SourceError
from feedhub.models import FetchOutcome, PollResult, SourceHealth, SourceState


@dataclass(frozen=True, slots=True)
class Timing:
    """The schedule rules that apply to one source."""

    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta


def after_success(
    state: SourceState,
    outcome: FetchOutcome,
    now: datetime,
    timing: Timing,
    *,
    body_hash: str | None,
) -> PollResult:
    """The source answered with a feed (or 304): reset the failure streak."""
    return PollResult(
        health=SourceHealth.OK,
        last_attempt=now,
        next_due=now + timing.interval,
        failures=0,
        last_status=304 if body_hash is None else 200,
        last_error=None,
        last_success=now,
        etag=outcome.etag or state.etag,
        last_modified=outcome.last_modified or state.last_modified,
        body_hash=body_hash or state.body_hash,
        effective_url=state.effective_url,
        permanent_redirects=0,
        redirect_target=None,
    )


def after_failure(
    state: SourceState, error: SourceError, now: datetime, timing: Timing
) -> PollResult:
    """The poll failed: back off exponentially from the interval, up to max_interval."""
    failures = state.failures + 1
    return PollResult(
        health=SourceHealth.FAILING,
        last_attempt=now,
        next_due=now + backoff(timing, failures),
        failures=failures,
        last_status=error.status if isinstance(error, HTTPStatusError) else None,
        last_error=one_line(str(error)),
        last_success=state.last_success,
        etag=state.etag,
        last_modified=state.last_modified,
        body_hash=state.body_hash,
        effective_url=state.effective_url,
        permanent_redirects=state.permanent_redirects,
        redirect_target=state.redirect_target,
    )


def with_warning(result: PollResult, warning: str) -> PollResult:
    """A success that still deserves a note: the document was not well formed."""
    return replace(result, last_error=one_line(f"feed not well formed: {warning}"))


def backoff(timing: Timing, failures: int) -> timedelta:
    factor: int = 2 ** min(max(failures - 1, 0), 20)
    return min(timing.interval * factor, max(timing.max_interval, timing.interval))


def one_line(text: str, limit: int = 500) -> str:
    return " ".join(text.split())[:limit]
