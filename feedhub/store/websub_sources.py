"""WebSub in the store, feedhub as a subscriber: its subscription to each source's hub,
and the documents hubs pushed until a poll takes them.

A subscription's `retry_at` is when something is next due for it: the subscription
request (state wanted or failed), the end of the wait for the hub's verification
(requested), the renewal (live). Workers claim the due ones, as they claim sources.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.websub import SourceSubscription
from feedhub.store import dialects
from feedhub.store.schema import sources, websub_pushes, websub_sources
from feedhub.store.websub import Transactions, claim, free

WANTED, REQUESTED, LIVE, UNSUBSCRIBING, FAILED = (
    "wanted",
    "requested",
    "live",
    "unsubscribing",
    "failed",
)
# While the hub pushes: a live subscription, or one being renewed, within its lease.
_PUSHING = (LIVE, REQUESTED)


class SubscriberStore:
    """feedhub's subscriptions to its sources' hubs."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def want(self, source_id: int, hub: str, topic: str, now: datetime) -> None:
        """The source's feed names `hub` and `topic`: subscribe, unless it is already
        subscribed there (a new hub or topic means subscribing anew, with a new secret)."""
        table = websub_sources
        with self._store.writing() as connection:
            row = connection.execute(
                sa.select(table.c.hub, table.c.topic, table.c.state).where(
                    table.c.source_id == source_id
                )
            ).first()
            if row is not None and (row.hub, row.topic) == (hub, topic):
                return
            values = {
                "hub": hub,
                "topic": topic,
                "token": secrets.token_urlsafe(24),
                "secret": secrets.token_hex(32),
                "state": WANTED,
                "verified_at": None,
                "lease_until": None,
                "retry_at": now,
                "failures": 0,
                "claim_until": None,
            }
            upsert = dialects.insert(connection, table).values(source_id=source_id, **values)
            connection.execute(
                upsert.on_conflict_do_update(index_elements=[table.c.source_id], set_=values)
            )

    def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[SourceSubscription]:
        """Subscriptions with something due, or whose source was removed, claimed."""
        table = websub_sources
        query = (
            sa.select(table, sources.c.url, sources.c.active)
            .join(sources, sources.c.id == table.c.source_id)
            .where(
                sa.or_(
                    table.c.retry_at <= now,
                    sa.and_(sources.c.active.is_(False), table.c.state != UNSUBSCRIBING),
                ),
                free(table.c.claim_until, now),
            )
            .order_by(table.c.source_id)
            .limit(limit)
        )
        rows = claim(self._store, query, table.c.source_id, {"claim_until": now + lease})
        return [_subscription(row) for row in rows]

    def update(self, source_id: int, **values: Any) -> None:
        """Record what was done for a claimed subscription; the claim ends."""
        with self._store.writing() as connection:
            connection.execute(
                websub_sources.update()
                .where(websub_sources.c.source_id == source_id)
                .values(claim_until=None, **values)
            )

    def failed(self, source_id: int, failures: int, retry_at: datetime, now: datetime) -> None:
        """Subscribing failed: try again at `retry_at`; meanwhile the source is polled as
        usual, from now."""
        with self._store.writing() as connection:
            connection.execute(
                websub_sources.update()
                .where(websub_sources.c.source_id == source_id)
                .values(state=FAILED, failures=failures, retry_at=retry_at, claim_until=None)
            )
            _poll_from(connection, [source_id], now)

    def forget(self, source_id: int) -> None:
        with self._store.writing() as connection:
            connection.execute(
                websub_sources.delete().where(websub_sources.c.source_id == source_id)
            )

    def by_token(self, token: str) -> SourceSubscription | None:
        return self._one(websub_sources.c.token == token)

    def by_source(self, source_id: int) -> SourceSubscription | None:
        return self._one(websub_sources.c.source_id == source_id)

    def _one(self, which: sa.ColumnElement[bool]) -> SourceSubscription | None:
        query = (
            sa.select(websub_sources, sources.c.url, sources.c.active)
            .join(sources, sources.c.id == websub_sources.c.source_id)
            .where(which)
        )
        with self._store.reading() as connection:
            row = connection.execute(query).first()
        return None if row is None else _subscription(row)

    def pushing(self, now: datetime | None = None) -> set[str]:
        """The URLs (as configured) of the sources whose hubs push to feedhub (within their
        lease at `now`, when given)."""
        lease_until = websub_sources.c.lease_until
        within = lease_until > now if now else lease_until.is_not(None)
        query = (
            sa.select(sources.c.url)
            .join(websub_sources, sources.c.id == websub_sources.c.source_id)
            .where(websub_sources.c.state.in_(_PUSHING), within)
        )
        with self._store.reading() as connection:
            return set(connection.execute(query).scalars())

    def save_push(self, source_id: int, body: bytes, content_type: str, now: datetime) -> None:
        """Keep a pushed document (the latest one wins) and make its source due now."""
        values = {"body": body, "content_type": content_type, "received": now}
        with self._store.writing() as connection:
            upsert = dialects.insert(connection, websub_pushes).values(
                source_id=source_id, **values
            )
            connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=[websub_pushes.c.source_id], set_=values
                )
            )
            _poll_from(connection, [source_id], now)

    def take_push(self, source_id: int) -> tuple[bytes, str] | None:
        """The document pushed for a source (claimed by the caller) since its last poll."""
        with self._store.writing() as connection:
            row = connection.execute(
                websub_pushes.delete()
                .where(websub_pushes.c.source_id == source_id)
                .returning(websub_pushes.c.body, websub_pushes.c.content_type)
            ).first()
        return None if row is None else (row.body, row.content_type)


def _poll_from(connection: Connection, source_ids: Iterable[int], now: datetime) -> None:
    connection.execute(
        sources.update()
        .where(sources.c.id.in_(list(source_ids)), sources.c.next_due > now)
        .values(next_due=now)
    )


def _subscription(row: Any) -> SourceSubscription:
    return SourceSubscription(
        source_id=row.source_id,
        source_url=row.url,
        active=row.active,
        hub=row.hub,
        topic=row.topic,
        token=row.token,
        secret=row.secret,
        state=row.state,
        lease_until=row.lease_until,
        verified_at=row.verified_at,
        retry_at=row.retry_at,
        failures=row.failures,
    )
