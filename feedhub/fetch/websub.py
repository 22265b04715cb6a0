"""WebSub's outbound messages: intent verifications, content distribution, requests to hubs.

Each goes through `Fetcher.send`: the same network guard (callbacks and hubs are
outbound requests like any source), deadline, host slots and body limits as a fetch.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from feedhub.core.errors import FetchError
from feedhub.fetch.client import Fetcher, Message

_CHALLENGE_BYTES = 24


def verify_intent(
    fetcher: Fetcher, callback: str, query: Mapping[str, str], *, allow_private: bool
) -> bool:
    """Ask `callback` to confirm a (un)subscription (`query`: hub.mode, hub.topic and maybe
    hub.lease_seconds): True when it answers 2xx echoing the challenge."""
    challenge = secrets.token_urlsafe(_CHALLENGE_BYTES)
    answered = fetcher.send(
        Message(
            "GET",
            callback,
            params={**query, "hub.challenge": challenge},
            allow_private=allow_private,
        )
    )
    return 200 <= answered.status < 300 and answered.body.strip() == challenge.encode()


def send_document(
    fetcher: Fetcher,
    callback: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_private: bool,
) -> None:
    """POST a topic's document to a subscriber; FetchError unless it answers 2xx."""
    _expect_2xx(
        callback,
        fetcher.send(
            Message("POST", callback, body=body, headers=headers, allow_private=allow_private)
        ).status,
    )


def send_form(fetcher: Fetcher, url: str, form: Mapping[str, str], *, allow_private: bool) -> None:
    """POST a form to a hub (a subscription request, a publish ping); FetchError unless 2xx."""
    _expect_2xx(
        url, fetcher.send(Message("POST", url, body=form, allow_private=allow_private)).status
    )


def _expect_2xx(url: str, status: int) -> None:
    if not 200 <= status < 300:
        raise FetchError(f"{url}: answered HTTP {status}")
