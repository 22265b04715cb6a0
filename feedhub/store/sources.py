"""Sources in the store: the configured list, claims on due sources, poll state, health events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.config.settings import SourceSettings
from feedhub.core.models import (
    HealthChange,
    HealthEvent,
    PollResult,
    SourceHealth,
    SourceState,
)
from feedhub.core.text import safe_strings, strip_forbidden
from feedhub.rules.spread import host_of, spread_over_hosts
from feedhub.store import claims, dialects
from feedhub.store.schema import (
    entries,
    health_events,
    sources,
)

# What storing a poll's result does to the source's claim: gives it back.
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_until": None}


# Due sources looked at per source claimed, to find other hosts to spread a claim over.
SCAN = 4


def sync(connection: Connection, configured: Sequence[SourceSettings], now: datetime) -> None:
    """Make the store's source list match the config: new ones are due now."""
    wanted = {source.url: source for source in configured}
    known = {
        row.url: row
        for row in connection.execute(
            sa.select(sources.c.id, sources.c.url, sources.c.name, sources.c.active)
        )
    }
    new = [_new_source(source, now) for url, source in sorted(wanted.items()) if url not in known]
    if new:
        # Workers starting together each add the new sources: the first one wins.
        connection.execute(dialects.insert(connection, sources).on_conflict_do_nothing(), new)
    for url, source in wanted.items():
        row = known.get(url)
        if row is not None and (row.name != source.name or not row.active):
            connection.execute(
                sources.update().where(sources.c.id == row.id).values(name=source.name, active=True)
            )
    gone = [row.id for url, row in known.items() if url not in wanted and row.active]
    if gone:
        connection.execute(sources.update().where(sources.c.id.in_(gone)).values(active=False))


def claim_due(
    connection: Connection,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int | None,
    *,
    everything: bool = False,
    started: datetime | None = None,
    busy: Mapping[str, int] | None = None,
) -> list[SourceState]:
    """Claim up to `limit` due sources for `owner`: earliest due first, hosts in turn.

    With `everything`, every scheduled source not attempted since `started` (default:
    `now`) counts as due, in id order, so a caller claiming batch by batch from one
    start gets each once. Of up to `SCAN` times `limit` due sources, those claimed are
    spread over hosts (`feedhub.rules.spread`: `busy` counts the fetches the caller already
    has in hand per host). The claim is a lease until now + `lease`, committed before
    anything is fetched: other workers skip the sources until the poll's result is
    stored (which releases it) or the lease runs out (the worker died: a live one
    renews its leases, see `renew_claims`; or a run on the same machine finds its
    process gone, see `claims.free_gone`). On PostgreSQL the rows are picked with FOR
    UPDATE SKIP LOCKED, so concurrent claims neither wait nor overlap.
    """
    due = claims.due_conditions(now, everything=everything, started=started)
    order = (sources.c.id,) if everything else (sources.c.next_due, sources.c.id)
    query = (
        sa.select(sources.c.id, sources.c.url, sources.c.effective_url)
        .where(*due, claims.free_condition(now))
        .order_by(*order)
        .limit(None if limit is None else limit * SCAN)
        .with_for_update(skip_locked=True)
    )
    candidates = [
        (row.id, host_of(row.effective_url or row.url)) for row in connection.execute(query)
    ]
    claimed = spread_over_hosts(candidates, limit or len(candidates), busy or {})
    if not claimed:
        return []
    connection.execute(
        sources.update()
        .where(sources.c.id.in_(claimed))
        .values(lease_owner=owner, lease_until=now + lease)
    )
    rows = connection.execute(sa.select(sources).where(sources.c.id.in_(claimed)))
    states = {row.id: _source_state(row) for row in rows}
    return [states[source_id] for source_id in claimed]


def renew_claims(connection: Connection, owner: str, until: datetime) -> None:
    """Extend `owner`'s leases: a worker polling slowly keeps its sources, a dead one
    stops renewing and loses them when its leases run out."""
    connection.execute(
        sources.update().where(sources.c.lease_owner == owner).values(lease_until=until)
    )


def release(connection: Connection, owner: str, source_ids: Iterable[int]) -> None:
    """Give back claims that were not polled after all (the worker is stopping)."""
    connection.execute(
        sources.update()
        .where(sources.c.id.in_(list(source_ids)), sources.c.lease_owner == owner)
        .values(**_NO_LEASE)
    )


def states(connection: Connection) -> list[SourceState]:
    counts = (
        sa.select(entries.c.source_id, sa.func.count().label("entries"))
        .group_by(entries.c.source_id)
        .subquery()
    )
    query = (
        sa.select(sources, sa.func.coalesce(counts.c.entries, 0).label("entries"))
        .outerjoin(counts, counts.c.source_id == sources.c.id)
        .where(sources.c.active.is_(True))
        .order_by(sources.c.id)
    )
    return [_source_state(row) for row in connection.execute(query)]


def site_links(connection: Connection) -> dict[str, str]:
    """Each active source's web site as its feed named it, by the source's configured URL."""
    query = sa.select(sources.c.url, sources.c.site_link).where(
        sources.c.active.is_(True), sources.c.site_link.is_not(None)
    )
    return {url: strip_forbidden(link) for url, link in connection.execute(query)}


def next_due(connection: Connection) -> datetime | None:
    return connection.execute(
        sa.select(sa.func.min(sources.c.next_due)).where(sources.c.active.is_(True))
    ).scalar()


def record_polls(connection: Connection, polls: Sequence[tuple[int, PollResult]]) -> None:
    """Store polls that brought no entries (by source id), in one transaction."""
    update_sources(connection, [(source_id, result, None) for source_id, result in polls])


def retry(connection: Connection, url: str, now: datetime) -> bool:
    """Make a source due now, gone or backing off; False if the store does not know it."""
    changed = connection.execute(
        sources.update().where(sources.c.url == url).values(next_due=now)
    ).rowcount
    return bool(changed)


def pull_forward(connection: Connection, due_by: Mapping[str, datetime]) -> None:
    """Bring the next poll of each source (by URL) forward to its time, if later."""
    for url, due in due_by.items():
        connection.execute(
            sources.update()
            .where(sources.c.url == url, sources.c.next_due > due)
            .values(next_due=due)
        )


def recent_health_events(connection: Connection, limit: int) -> list[HealthEvent]:
    """The newest `limit` health events, newest first."""
    query = (
        sa.select(health_events)
        .order_by(health_events.c.at.desc(), health_events.c.id.desc())
        .limit(limit)
    )
    events = [
        HealthEvent(row.source_name, row.source_url, HealthChange(row.change), row.at, row.message)
        for row in connection.execute(query)
    ]
    return [safe_strings(event) for event in events]  # stored maybe before the border


def _new_source(source: SourceSettings, now: datetime) -> dict[str, Any]:
    return {
        "url": source.url,
        "name": source.name,
        "active": True,
        "health": SourceHealth.NEW.value,
        "permanent_redirects": 0,
        "failures": 0,
        "next_due": now,
    }


def _source_state(row: Any) -> SourceState:
    mapping = row._mapping
    state = SourceState(
        id=mapping["id"],
        url=mapping["url"],
        effective_url=mapping["effective_url"],
        name=mapping["name"],
        health=SourceHealth(mapping["health"]),
        etag=mapping["etag"],
        last_modified=mapping["last_modified"],
        body_hash=mapping["body_hash"],
        last_attempt=mapping["last_attempt"],
        last_success=mapping["last_success"],
        last_status=mapping["last_status"],
        last_error=mapping["last_error"],
        failures=mapping["failures"],
        permanent_redirects=mapping["permanent_redirects"],
        redirect_target=mapping["redirect_target"],
        next_due=mapping["next_due"],
        entries=mapping.get("entries", 0),
        feed_hint_seconds=mapping.get("feed_hint_seconds"),
        public_error=mapping.get("public_error"),
    )
    return safe_strings(state)  # stored by an older feedhub, maybe before the border


# What a poll sets on its source: built once, executed with one row per poll.
_POLLED_COLUMNS = (
    "health", "last_attempt", "next_due", "failures", "last_status", "last_error",
    "public_error", "last_success", "etag", "last_modified", "body_hash", "effective_url",
    "permanent_redirects", "redirect_target", "feed_hint_seconds",
)  # fmt: skip
_RECORD_POLL = (
    sources.update()
    .where(sources.c.id == sa.bindparam("polled_id"))
    .values(
        {
            **{name: sa.bindparam(f"polled_{name}") for name in _POLLED_COLUMNS},
            "site_link": sa.func.coalesce(sa.bindparam("polled_site_link"), sources.c.site_link),
            **_NO_LEASE,
        }
    )
)


def update_sources(
    connection: Connection, polls: Sequence[tuple[int, PollResult, str | None]]
) -> None:
    """Record polls (source id, result, the site link the feed gave) on their sources, and
    their health events, in one statement each however many polls."""
    if not polls:
        return
    connection.execute(
        _RECORD_POLL,
        [
            {
                **{f"polled_{name}": getattr(result, name) for name in _POLLED_COLUMNS},
                "polled_health": result.health.value,
                "polled_id": source_id,
                "polled_site_link": site_link,
            }
            for source_id, result, site_link in polls
        ],
    )
    events = [event for _, result, _ in polls for event in result.events]
    if events:
        connection.execute(
            health_events.insert(),
            [
                {
                    "at": event.at,
                    "source_name": event.source_name,
                    "source_url": event.source_url,
                    "change": event.change.value,
                    "message": event.message,
                }
                for event in events
            ],
        )
