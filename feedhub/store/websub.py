"""WebSub in the store, feedhub as a hub: requests waiting for verification, subscribers,
and the deliveries they are owed.

A delivery is owed when a topic's published document changes (`topic_changed`, called
in the transaction that stored the new document), so it is owed once, whichever worker
published. Workers sharing a PostgreSQL store claim requests and deliveries as they
claim sources (rows picked FOR UPDATE SKIP LOCKED, a claim that runs out), so each is
handled by one of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.websub import Delivery, SubscriptionRequest
from feedhub.rules.websub import callback_host
from feedhub.store import dialects
from feedhub.store.schema import websub_requests, websub_subscribers

PING = ""  # the callback_host of an external hub's publish pings
_FOREVER = timedelta(days=365 * 100)


class Transactions(Protocol):
    """What these functions need of `feedhub.store.facade.Store`."""

    def writing(self) -> AbstractContextManager[Connection]: ...

    def reading(self) -> AbstractContextManager[Connection]: ...


def topic_changed(connection: Connection, path: str) -> None:
    """The document at site path `path` changed: every subscriber of it is owed a delivery."""
    connection.execute(
        websub_subscribers.update().where(websub_subscribers.c.topic == path).values(changed=True)
    )


def subscriber_key(topic: str, callback: str) -> str:
    return hashlib.sha256(f"{topic}\n{callback}".encode()).hexdigest()


def free(claim_until: sa.Column[Any], now: datetime) -> sa.ColumnElement[bool]:
    """Not claimed, or claimed by a worker whose claim ran out (it died)."""
    return sa.or_(claim_until.is_(None), claim_until <= now)


def claim(
    store: Transactions,
    query: sa.Select[Any],
    key: sa.Column[int],
    values: dict[str, Any],
) -> list[Any]:
    """The rows `query` picks, updated with `values` (a claim) in the same transaction.

    `query` locks what it picks FOR UPDATE SKIP LOCKED, so workers sharing a PostgreSQL
    store never pick the same rows; `key` is the column naming a row of the claimed table.
    """
    with store.reading() as connection:
        if connection.execute(query.limit(1)).first() is None:
            return []  # the daemon asks every tick: an idle one takes no write lock
    with store.writing() as connection:
        rows = list(connection.execute(query.with_for_update(skip_locked=True, of=key.table)))
        if rows:
            picked = [row._mapping[key.name] for row in rows]
            connection.execute(key.table.update().where(key.in_(picked)).values(**values))
    return rows


class HubStore:
    """The hub's subscriptions in the store."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def add_request(
        self, request: SubscriptionRequest, host: str, now: datetime, max_per_host: int
    ) -> bool:
        """Keep a request until it is verified; False if its callback's host has too many
        subscriptions and requests already (renewals and unsubscriptions always pass)."""
        with self._store.writing() as connection:
            dialects.lock_names(connection, "websub-host", [host])
            key = subscriber_key(request.topic, request.callback)
            known = connection.execute(
                sa.select(websub_subscribers.c.id).where(websub_subscribers.c.key == key)
            ).first()
            if request.mode == "subscribe" and known is None:
                held = self._held_by(connection, host)
                if held >= max_per_host:
                    return False
            connection.execute(
                websub_requests.insert().values(
                    mode=request.mode,
                    topic=request.topic,
                    callback=request.callback,
                    callback_host=host,
                    secret=request.secret,
                    lease_seconds=request.lease_seconds,
                    received=now,
                )
            )
        return True

    @staticmethod
    def _held_by(connection: Connection, host: str) -> int:
        counts = [
            sa.select(sa.func.count()).where(table.c.callback_host == host)
            for table in (websub_subscribers, websub_requests)
        ]
        return sum(connection.execute(count).scalar_one() for count in counts)

    def claim_requests(
        self, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[int, SubscriptionRequest]]:
        """Requests to verify, oldest first, claimed until now + `lease`."""
        query = (
            sa.select(websub_requests)
            .where(free(websub_requests.c.claim_until, now))
            .order_by(websub_requests.c.id)
            .limit(limit)
        )
        rows = claim(self._store, query, websub_requests.c.id, {"claim_until": now + lease})
        return [
            (
                row.id,
                SubscriptionRequest(
                    row.mode, row.topic, row.callback, row.lease_seconds, row.secret
                ),
            )
            for row in rows
        ]

    def settle_request(
        self, request_id: int, request: SubscriptionRequest, now: datetime, *, verified: bool
    ) -> None:
        """The request's intent was verified (apply it) or not (drop it)."""
        key = subscriber_key(request.topic, request.callback)
        with self._store.writing() as connection:
            connection.execute(websub_requests.delete().where(websub_requests.c.id == request_id))
            if not verified:
                return
            if request.mode == "unsubscribe":
                connection.execute(
                    websub_subscribers.delete().where(websub_subscribers.c.key == key)
                )
                return
            values = {
                "secret": request.secret,
                "expires": now + timedelta(seconds=request.lease_seconds),
            }
            upsert = dialects.insert(connection, websub_subscribers).values(
                key=key,
                topic=request.topic,
                callback=request.callback,
                callback_host=callback_host(request.callback),
                changed=False,
                failures=0,
                **values,
            )
            connection.execute(
                upsert.on_conflict_do_update(index_elements=[websub_subscribers.c.key], set_=values)
            )

    def claim_deliveries(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        """Deliveries owed to live subscribers and due, claimed until now + `lease`.

        The change is taken with the claim: one published while the delivery is under way
        is owed again, so the subscriber always ends with the latest document.
        """
        table = websub_subscribers
        query = (
            sa.select(table.c.id, table.c.topic, table.c.callback, table.c.secret, table.c.failures)
            .where(
                table.c.changed.is_(True),
                table.c.expires > now,
                sa.or_(table.c.retry_at.is_(None), table.c.retry_at <= now),
                free(table.c.claim_until, now),
            )
            .order_by(table.c.id)
            .limit(limit)
        )
        rows = claim(self._store, query, table.c.id, {"changed": False, "claim_until": now + lease})
        return [Delivery(row.id, row.topic, row.callback, row.secret, row.failures) for row in rows]

    def delivered(self, delivery: Delivery, retry_at: datetime | None, *, failed: bool) -> None:
        """A delivery succeeded, or failed and is retried at `retry_at` (None: given up)."""
        values: dict[str, Any] = {"claim_until": None, "failures": 0, "retry_at": None}
        if failed and retry_at is not None:
            values.update(changed=True, failures=delivery.failures + 1, retry_at=retry_at)
        with self._store.writing() as connection:
            connection.execute(
                websub_subscribers.update()
                .where(websub_subscribers.c.id == delivery.subscription_id)
                .values(**values)
            )

    def set_pings(self, hub: str | None, topics: Iterable[str], now: datetime) -> None:
        """With an external `hub`, every change of a topic is owed to it as a publish ping:
        one row per topic whose callback is the hub (and whose callback_host is empty, which
        no subscriber's is). Pings for another hub, or with none, are dropped."""
        table = websub_subscribers
        with self._store.writing() as connection:
            connection.execute(
                table.delete().where(table.c.callback_host == PING, table.c.callback != hub)
            )
            if hub is None:
                return
            rows = [
                {
                    "key": subscriber_key(topic, hub),
                    "topic": topic,
                    "callback": hub,
                    "callback_host": PING,
                    "secret": None,
                    "expires": now + _FOREVER,
                    "changed": False,
                    "failures": 0,
                }
                for topic in topics
            ]
            connection.execute(dialects.insert(connection, table).on_conflict_do_nothing(), rows)

    def expire(self, now: datetime) -> int:
        """Forget the subscribers whose lease ended; how many."""
        ended = websub_subscribers.c.expires <= now
        with self._store.reading() as connection:
            if connection.execute(sa.select(websub_subscribers.c.id).where(ended)).first() is None:
                return 0
        with self._store.writing() as connection:
            return connection.execute(websub_subscribers.delete().where(ended)).rowcount

    def subscribers(self, topic: str, now: datetime) -> list[str]:
        """The callbacks of `topic`'s live subscribers."""
        query = sa.select(websub_subscribers.c.callback).where(
            websub_subscribers.c.topic == topic, websub_subscribers.c.expires > now
        )
        with self._store.reading() as connection:
            return list(connection.execute(query.order_by(websub_subscribers.c.id)).scalars())
