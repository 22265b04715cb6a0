"""Pure decisions about a source after a poll: its health, failure streak, URL and next due time.

Nothing here touches the network, the store or the clock: the pipeline passes
in the state from the store, what the poll produced, "now" and a random draw
for the jitter, and stores the `PollResult` that comes back, health events
included. The rules (README, "Schedule and politeness"):

- next due = the larger of the interval and what the server asks for
  (Cache-Control max-age / Expires, RSS <ttl>, sy:updatePeriod), clamped to
  [min_interval, max_interval], plus a jitter of up to a tenth of it (at most 15 min);
- 429/503 with Retry-After: wait that long (within the same clamp); not a failure;
- 301/308 on 3 consecutive polls: the effective URL moves; 302/307 never move it;
- 410 Gone: polling stops until `feedhub sources retry`;
- any other failure: exponential backoff from the interval up to max_interval,
  reset by the first success.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from feedhub.core.errors import HTTPStatusError, SourceError
from feedhub.core.models import (
    FeedDocument,
    Fetched,
    FetchOutcome,
    HealthChange,
    HealthEvent,
    PollResult,
    SourceHealth,
    SourceState,
)
from feedhub.core.text import one_line
from feedhub.rules import hints

MOVE_AFTER = 3  # consecutive polls with the same permanent redirect before the URL moves
PERMANENT = frozenset({301, 308})
THROTTLED = frozenset({429, 503})
GONE = 410
JITTER_SHARE = 0.1
MAX_JITTER = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Timing:
    """The schedule rules that apply to one source, and this poll's random draw."""

    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta
    spread: float = 0.0  # a random draw in [0, 1): where in the jitter window this poll lands


def after_success(
    state: SourceState,
    outcome: FetchOutcome,
    now: datetime,
    timing: Timing,
    *,
    body_hash: str | None,
    feed_hint_seconds: int | None,
) -> PollResult:
    """The source answered with a feed (or 304): reset the failure streak.

    Validators are kept verbatim: a 200 replaces them with what it sent, a 304
    refreshes those it sent and keeps the others.
    """
    fresh = hints.fresh_for(outcome.headers, now)
    asked = [fresh] if fresh else []
    if feed_hint_seconds:
        asked.append(timedelta(seconds=feed_hint_seconds))
    effective_url, seen, target = _follow_moves(state, outcome)
    if isinstance(outcome, Fetched):
        status, etag, last_modified = outcome.status, outcome.etag, outcome.last_modified
    else:
        status, etag = 304, outcome.etag or state.etag
        last_modified = outcome.last_modified or state.last_modified
    result = PollResult(
        health=SourceHealth.OK,
        last_attempt=now,
        next_due=now + _with_jitter(_clamp(max([timing.interval, *asked]), timing), timing),
        failures=0,
        last_status=status,
        last_error=None,
        last_success=now,
        etag=etag,
        last_modified=last_modified,
        body_hash=body_hash or state.body_hash,
        effective_url=effective_url,
        permanent_redirects=seen,
        redirect_target=target,
        feed_hint_seconds=feed_hint_seconds,
    )
    return _with_events(state, result)


def after_failure(
    state: SourceState,
    error: SourceError,
    now: datetime,
    timing: Timing,
    *,
    answered: int | None = None,
) -> PollResult:
    """The poll failed: gone (410), asked to wait (429/503 + Retry-After), or back off.

    `answered`: the HTTP status of a response that came back but could not be read.
    """
    status = error.status if isinstance(error, HTTPStatusError) else answered
    failures = state.failures + 1
    health = SourceHealth.FAILING
    message = one_line(str(error))
    next_due: datetime | None = now + _with_jitter(backoff(timing, failures), timing)
    wait = hints.retry_after(error.headers, now) if isinstance(error, HTTPStatusError) else None
    if status == GONE:
        health, next_due = SourceHealth.GONE, None
        message = one_line(
            f"{message}; polling stopped, `feedhub sources retry {shlex.quote(state.name)}` "
            "resumes it"
        )
    elif status in THROTTLED and wait is not None:
        # The server is alive and asked for a pause: honor it without growing the streak.
        failures, health = state.failures, state.health
        pause = _clamp(wait, timing)
        next_due = now + _with_jitter(pause, timing)
        message = one_line(f"{message}; asked to retry after {_seconds(pause)}")
    result = PollResult(
        health=health,
        last_attempt=now,
        next_due=next_due,
        failures=failures,
        last_status=status,
        last_error=message,
        last_success=state.last_success,
        etag=state.etag,
        last_modified=state.last_modified,
        body_hash=state.body_hash,
        effective_url=state.effective_url,
        permanent_redirects=state.permanent_redirects,
        redirect_target=state.redirect_target,
        feed_hint_seconds=state.feed_hint_seconds,
    )
    return _with_events(state, result)


def with_warning(state: SourceState, result: PollResult, document: FeedDocument) -> PollResult:
    """A success that deserves a note (`document.warning`): in the warning state when the
    document was not well formed, ok with the note when it only reached a limit."""
    health = SourceHealth.WARNING if document.malformed else result.health
    noted = replace(result, health=health, last_error=one_line(document.warning or ""))
    return _with_events(state, noted)


def feed_hint(document: FeedDocument) -> int | None:
    """How often, in seconds, the document says it changes (RSS <ttl>, sy:updatePeriod)."""
    stated = [
        seconds
        for seconds in (
            document.ttl_minutes * 60 if document.ttl_minutes else None,
            document.update_period_seconds,
        )
        if seconds
    ]
    return max(stated, default=None)


def backoff(timing: Timing, failures: int) -> timedelta:
    """The interval doubled per failure after the first, within [min_interval, max_interval]."""
    factor: int = 2 ** min(max(failures - 1, 0), 20)
    return _clamp(timing.interval * factor, timing)


def regular_delay(timing: Timing) -> timedelta:
    """The delay between two polls of a healthy source that asks for nothing more."""
    return _clamp(timing.interval, timing)


def _clamp(delay: timedelta, timing: Timing) -> timedelta:
    return min(max(delay, timing.min_interval), timing.max_interval)


def _with_jitter(delay: timedelta, timing: Timing) -> timedelta:
    """Spread sources with the same interval apart; never earlier than asked."""
    return delay + min(delay * JITTER_SHARE, MAX_JITTER) * timing.spread


def _follow_moves(state: SourceState, outcome: FetchOutcome) -> tuple[str | None, int, str | None]:
    """(effective URL, polls that saw the permanent redirect, its target) after this poll."""
    target = None
    for hop in outcome.redirects:
        if hop.status not in PERMANENT:
            break
        target = hop.location
    if target is None:
        return state.effective_url, 0, None
    seen = state.permanent_redirects + 1 if target == state.redirect_target else 1
    if seen < MOVE_AFTER:
        return state.effective_url, seen, target
    return (None if target == state.url else target), 0, None


def _with_events(state: SourceState, result: PollResult) -> PollResult:
    return replace(result, events=tuple(health_events(state, result)))


def health_events(state: SourceState, result: PollResult) -> list[HealthEvent]:
    """What an operator should hear about this poll: failing, a warning, recovered, moved,
    gone."""
    events: list[HealthEvent] = []

    def event(change: HealthChange, message: str) -> None:
        events.append(HealthEvent(state.name, state.url, change, result.last_attempt, message))

    if result.effective_url != state.effective_url:
        event(
            HealthChange.MOVED,
            f"{state.name} moved permanently to {result.effective_url or state.url} "
            f"(a permanent redirect on {MOVE_AFTER} consecutive polls; the config is unchanged)",
        )
    if result.health is state.health:
        return events
    if result.health is SourceHealth.FAILING:
        event(HealthChange.FAILING, f"{state.name} is failing: {result.last_error}")
    elif result.health is SourceHealth.GONE:
        event(HealthChange.GONE, f"{state.name} is gone: {result.last_error}")
    elif result.health is SourceHealth.WARNING:
        event(HealthChange.WARNING, f"{state.name}: {result.last_error}")
    elif result.health is SourceHealth.OK and state.health is SourceHealth.WARNING:
        event(HealthChange.RECOVERED, f"{state.name} sends a document without problems again")
    elif result.health is SourceHealth.OK and state.health is not SourceHealth.NEW:
        event(
            HealthChange.RECOVERED,
            f"{state.name} recovered after {state.failures} failed "
            f"poll{'s' if state.failures != 1 else ''}",
        )
    return events


def _seconds(delay: timedelta) -> str:
    return f"{int(delay.total_seconds())}s"
