"""WebSub values and the protocol the web app answers WebSub requests through.

`feedhub.serve` never reads the store: its WebSub endpoints hand requests to a
`WebSubEndpoints` that the app wires to the store, as documents reach it through
`feedhub.core.site.DocumentSource`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

HUB_PATH = "websub"  # the hub endpoint, under base_url
CALLBACK_PATH = "websub/callback/"  # subscriber callbacks, one token each, under base_url


@dataclass(frozen=True, slots=True)
class Answer:
    """What an endpoint answers: a status line and a plain-text body."""

    status: str  # like "202 Accepted"
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """A subscriber's valid (un)subscription request to feedhub's hub, before verification."""

    mode: str  # "subscribe" or "unsubscribe"
    topic: str  # the site path of one of feedhub's feeds, like "all/atom.xml"
    callback: str
    lease_seconds: int
    secret: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One subscriber to send a topic's current document to."""

    subscription_id: int
    topic: str  # site path
    callback: str
    secret: str | None
    failures: int  # failed attempts in a row so far


@dataclass(frozen=True, slots=True)
class SourceSubscription:
    """feedhub's own subscription to one source's hub."""

    source_id: int
    source_url: str
    active: bool  # whether the source is still configured
    hub: str
    topic: str  # the source's self URL
    token: str  # its callback is base_url + CALLBACK_PATH + token
    secret: str
    state: str  # see feedhub.store.websub: wanted, requested, live, unsubscribing, failed
    lease_until: datetime | None
    verified_at: datetime | None
    retry_at: datetime | None
    failures: int


class WebSubEndpoints(Protocol):
    """What the web app's WebSub endpoints do; every argument came from outside, unchecked."""

    def subscription_request(self, form: Mapping[str, str]) -> Answer:
        """A POST to the hub endpoint."""
        ...

    def verify_intent(self, token: str, query: Mapping[str, str]) -> Answer:
        """A hub's GET to one of feedhub's callbacks."""
        ...

    def content(self, token: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """A hub's POST of new content to one of feedhub's callbacks."""
        ...
