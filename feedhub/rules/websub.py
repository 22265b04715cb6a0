"""Pure WebSub decisions: requests checked, leases granted, signatures, retries, renewals.

Nothing here touches the network or the store; `feedhub.app.websub` applies what
these decide.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from feedhub.core.websub import SubscriptionRequest

MODES = ("subscribe", "unsubscribe")
MAX_SECRET_BYTES = 199  # the spec: "MUST be less than 200 bytes in length"
MAX_CALLBACK_LENGTH = 2048
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
# A subscription renews when this share of its lease is left (a lost renewal has time to retry).
RENEW_WHEN_LEFT = 0.2
# A subscription the hub has not verified within this long has failed.
VERIFICATION_WAIT = timedelta(minutes=10)
_DIGESTS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}


def check_request(
    form: Mapping[str, str],
    topic_of: Callable[[str], str | None],
    default_lease: timedelta,
    max_lease: timedelta,
) -> SubscriptionRequest | str:
    """A subscription request's form as a `SubscriptionRequest`, or why it is refused.

    `topic_of` maps a topic URL to the site path of one of feedhub's feeds (None: not ours).
    """
    mode = form.get("hub.mode", "")
    if mode not in MODES:
        return "hub.mode must be subscribe or unsubscribe"
    callback = form.get("hub.callback", "")
    parts = urlsplit(callback)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        return "hub.callback must be an absolute http(s) URL without a fragment"
    if len(callback) > MAX_CALLBACK_LENGTH:
        return f"hub.callback is longer than {MAX_CALLBACK_LENGTH} characters"
    topic = topic_of(form.get("hub.topic", ""))
    if topic is None:
        return "hub.topic is not a feed of this hub"
    secret = form.get("hub.secret") or None
    if secret is not None and len(secret.encode("utf-8")) > MAX_SECRET_BYTES:
        return "hub.secret must be less than 200 bytes"
    lease = granted_lease(form.get("hub.lease_seconds"), default_lease, max_lease)
    return SubscriptionRequest(mode, topic, callback, int(lease.total_seconds()), secret)


def granted_lease(asked: str | None, default: timedelta, maximum: timedelta) -> timedelta:
    """The lease a hub grants for `hub.lease_seconds` (absent or unusable: the default)."""
    try:
        seconds = int(asked or "")
    except ValueError:
        return min(default, maximum)
    return min(timedelta(seconds=max(60, seconds)), maximum)


def callback_host(callback: str) -> str:
    """What the cap on subscriptions per callback host counts by."""
    return (urlsplit(callback).hostname or "").lower()


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature` of `body` under `secret`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether an `X-Hub-Signature` header (sha1, sha256, sha384 or sha512) signs `body`."""
    method, _, signature = (header or "").strip().partition("=")
    digest = _DIGESTS.get(method.lower())
    if digest is None or not signature:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, digest).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def retry_at(failures: int, now: datetime, max_attempts: int) -> datetime | None:
    """When to try again after `failures` failed attempts in a row; None: give up."""
    if failures >= max_attempts:
        return None
    return now + min(FIRST_RETRY * (1 << min(max(failures - 1, 0), 20)), LONGEST_RETRY)


def renewal_at(verified: datetime, lease: timedelta) -> datetime:
    """When to renew a subscription verified at `verified` for `lease`: before it ends,
    with time left to try again if the renewal fails."""
    return verified + lease * (1 - RENEW_WHEN_LEFT)


def poll_interval(regular: timedelta, max_interval: timedelta, *, pushed: bool) -> timedelta:
    """How often to poll a source: at `max_interval` as a safety net while its hub pushes."""
    return max(regular, max_interval) if pushed else regular
