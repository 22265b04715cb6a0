"""WebSub in both directions, wired to the store and the fetcher.

As the hub of its own feeds, feedhub takes subscription requests (`feedhub.serve`
hands them over through `WebSubEndpoints`), verifies each subscriber's intent, and
sends every live subscriber a feed's new document when its published bytes change
(or, with an external hub configured, pings that hub instead). As a subscriber, it
subscribes to the hubs its sources advertise, answers their verifications, and keeps
what they push for the source's next poll, which takes it instead of fetching (see
`Hub._fetch`): a pushed document goes through the very same steps as a fetched one.
The decisions are `feedhub.rules.websub`'s; the store keeps every state, so several
workers share the work and a restart loses none of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

from feedhub.config.settings import Settings
from feedhub.core.clock import Clock
from feedhub.core.errors import SourceError
from feedhub.core.models import FeedDocument, Fetched, SourceState
from feedhub.core.websub import CALLBACK_PATH, Answer, Delivery, SourceSubscription
from feedhub.fetch.client import Fetcher
from feedhub.fetch.websub import send_document, send_form, verify_intent
from feedhub.publish.catalog import FEED_FILES, feeds_of, hub_url
from feedhub.rules import websub as rules
from feedhub.store.facade import Store
from feedhub.store.websub import HubStore
from feedhub.store.websub_sources import LIVE, REQUESTED, UNSUBSCRIBING, SubscriberStore

log = logging.getLogger(__name__)

_BATCH = 50


class WebSub:
    """One hub's WebSub roles; its `WebSubEndpoints` methods answer the web app."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        clock: Clock,
        *,
        verify_at_once: bool = False,
    ) -> None:
        self.settings = settings
        self.config = settings.websub
        self.fetcher = fetcher
        self.clock = clock
        self.hub = HubStore(store)
        self.subscriptions = SubscriberStore(store)
        self._store = store
        self._verify_at_once = verify_at_once  # requests are verified at once, in a thread
        self._verification_wanted = threading.Event()
        self._verifier: threading.Thread | None = None
        self._verifier_lock = threading.Lock()
        self._pushing: set[str] = set()
        self._taken: set[int] = set()  # the sources this run took a pushed document for
        self._topics = {
            settings.hub.base_url + f"{feed.slug}/{name}": f"{feed.slug}/{name}"
            for feed in feeds_of(settings)
            for name in FEED_FILES
        }
        self._hub_url = hub_url(settings)
        self._pings_set = False

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def _claim(self) -> timedelta:
        # Long enough for a batch of messages, each bounded by the fetch deadline.
        return max(
            self.settings.schedule.lease, timedelta(seconds=3 * self.settings.fetch.deadline)
        )

    # --- the runs ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Before a poll: which sources' hubs push to feedhub now."""
        if self.enabled:
            self._pushing = self.subscriptions.pushing(self.clock())
            self._taken = set()

    def run(self) -> None:
        """After a poll and its publishing: verify, deliver, (re)subscribe what is due."""
        if not self.enabled:
            return
        self.hub.expire(self.clock())
        self.verify_requests()
        if not self._pings_set:
            self.hub.set_pings(self.config.hub, self._topics.values(), self.clock())
            self._pings_set = True
        self.deliver()
        if self.config.subscribe:
            self.maintain_subscriptions()

    def is_pushing(self, source_url: str) -> bool:
        return source_url in self._pushing

    def pushing(self) -> set[str]:
        """The configured URLs of the sources whose hubs push to feedhub now."""
        return self.subscriptions.pushing(self.clock()) if self.enabled else set()

    # --- the hub ----------------------------------------------------------------------

    def subscription_request(self, form: Mapping[str, str]) -> Answer:
        if not self.enabled or self.config.hub:
            return Answer("404 Not Found", "this hub takes no subscriptions\n")
        checked = rules.check_request(
            form, self._topics.get, self.config.lease, self.config.max_lease
        )
        if isinstance(checked, str):
            return Answer("400 Bad Request", checked + "\n")
        host = rules.callback_host(checked.callback)
        if not self.hub.add_request(
            checked, host, self.clock(), self.config.max_subscriptions_per_host
        ):
            return Answer(
                "429 Too Many Requests",
                f"{host} has {self.config.max_subscriptions_per_host} subscriptions already\n",
            )
        if self._verify_at_once:
            self._wake_verifier()
        return Answer("202 Accepted", "the callback will be asked to verify\n")

    def _wake_verifier(self) -> None:
        """Have the one verifying thread (started on first use) verify what is waiting."""
        self._verification_wanted.set()
        with self._verifier_lock:
            if self._verifier is None:
                self._verifier = threading.Thread(
                    target=self._verify_forever, name="feedhub-websub-verify", daemon=True
                )
                self._verifier.start()

    def _verify_forever(self) -> None:
        while self._verification_wanted.wait():
            self._verification_wanted.clear()
            try:
                self.verify_requests()
            except Exception:  # a bug or the store unreachable: the next request retries
                log.exception("websub: verifying subscription requests failed")

    def verify_requests(self) -> None:
        """Verify the intent of the subscription requests waiting for it."""
        while claimed := self.hub.claim_requests(self.clock(), self._claim, _BATCH):
            for request_id, request in claimed:
                query = {"hub.mode": request.mode, "hub.topic": self._topic_url(request.topic)}
                if request.mode == "subscribe":
                    query["hub.lease_seconds"] = str(request.lease_seconds)
                try:
                    verified = verify_intent(
                        self.fetcher,
                        request.callback,
                        query,
                        allow_private=self.config.allow_private_callbacks,
                    )
                except SourceError as error:
                    log.warning("websub: %s not verified: %s", request.callback, error)
                    verified = False
                self.hub.settle_request(request_id, request, self.clock(), verified=verified)
                log.info(
                    "websub: %s %s %s %s",
                    request.callback,
                    "verified" if verified else "did not verify",
                    request.mode,
                    request.topic,
                )

    def deliver(self) -> None:
        """Send every owed delivery that is due, a batch at a time, concurrently."""
        workers = self.settings.fetch.concurrency
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feedhub-websub") as pool:
            while claimed := self.hub.claim_deliveries(self.clock(), self._claim, _BATCH):
                list(pool.map(self._deliver, claimed))

    def _deliver(self, delivery: Delivery) -> None:
        topic_url = self._topic_url(delivery.topic)
        try:
            if delivery.callback == self.config.hub:
                form = {"hub.mode": "publish", "hub.url": topic_url, "hub.topic": topic_url}
                # The operator configured this hub, as a source: the [fetch] guard applies.
                allowed = self.settings.fetch.allow_private_networks
                send_form(self.fetcher, delivery.callback, form, allow_private=allowed)
            else:
                self._send(delivery, topic_url)
        except SourceError as error:
            now = self.clock()
            retry = rules.retry_at(delivery.failures + 1, now, self.config.max_delivery_attempts)
            log.warning(
                "websub: delivery of %s to %s failed (%s); %s",
                delivery.topic,
                delivery.callback,
                error,
                f"retrying at {retry:%H:%M:%S}" if retry else "given up",
            )
            self.hub.delivered(delivery, retry, failed=True)
            return
        self.hub.delivered(delivery, None, failed=False)

    def _send(self, delivery: Delivery, topic_url: str) -> None:
        document = self._store.document(delivery.topic)
        if document is None:
            return  # the feed is gone from the config
        headers = {
            "Content-Type": document.content_type,
            "Link": f'<{self._hub_url}>; rel="hub", <{topic_url}>; rel="self"',
        }
        if delivery.secret:
            headers["X-Hub-Signature"] = rules.sign(delivery.secret, document.body)
        send_document(
            self.fetcher,
            delivery.callback,
            document.body,
            headers,
            allow_private=self.config.allow_private_callbacks,
        )

    def _topic_url(self, path: str) -> str:
        return self.settings.hub.base_url + path

    # --- the subscriber ----------------------------------------------------------------

    def noticed(self, state: SourceState, document: FeedDocument, *, new_entries: int) -> None:
        """A source's document was stored: subscribe to the hub it advertises, if any. A
        poll (not a push) that found new entries while the hub was to push them means the
        pushes stopped: the subscription has failed, and the source is polled as usual."""
        if not (self.enabled and self.config.subscribe):
            return
        if new_entries and self.is_pushing(state.url) and state.id not in self._taken:
            subscription = self.subscriptions.by_source(state.id)
            if subscription is not None:
                self._failed(subscription, f"a poll found {new_entries} entries it had not pushed")
        elif document.hub and document.self_url:
            self.subscriptions.want(state.id, document.hub, document.self_url, self.clock())

    def take_push(self, state: SourceState) -> Fetched | None:
        """What a hub pushed for a claimed source since its last poll, as if fetched."""
        if state.url not in self._pushing:
            return None
        pushed = self.subscriptions.take_push(state.id)
        if pushed is None:
            return None
        self._taken.add(state.id)
        body, content_type = pushed
        log.info("%s: taking the document its hub pushed", state.name)
        # The validators stay: the next poll is still a conditional one.
        headers = {"content-type": content_type}
        return Fetched(state.fetch_url, 200, body, headers, state.etag, state.last_modified)

    def maintain_subscriptions(self) -> None:
        """Subscribe, renew, give up waiting, unsubscribe: whatever is due."""
        while claimed := self.subscriptions.claim_due(self.clock(), self._claim, _BATCH):
            for subscription in claimed:
                if not subscription.active:
                    self._unsubscribe(subscription)
                elif subscription.state == REQUESTED:
                    self._failed(subscription, "the hub did not verify the subscription")
                elif subscription.state == UNSUBSCRIBING:
                    self.subscriptions.forget(subscription.source_id)
                else:
                    self._subscribe(subscription)

    def _subscribe(self, subscription: SourceSubscription) -> None:
        form = self._form(subscription, "subscribe")
        form["hub.lease_seconds"] = str(int(self.config.lease.total_seconds()))
        form["hub.secret"] = subscription.secret
        try:
            self._to_hub(subscription, form)
        except SourceError as error:
            self._failed(subscription, str(error))
            return
        now = self.clock()
        self.subscriptions.update(
            subscription.source_id, state=REQUESTED, retry_at=now + rules.VERIFICATION_WAIT
        )
        log.info("%s: subscribed at its hub %s", subscription.source_url, subscription.hub)

    def _unsubscribe(self, subscription: SourceSubscription) -> None:
        if subscription.state not in (LIVE, REQUESTED):
            self.subscriptions.forget(subscription.source_id)
            return
        try:
            self._to_hub(subscription, self._form(subscription, "unsubscribe"))
        except SourceError as error:
            log.warning("%s: unsubscribing failed (%s)", subscription.source_url, error)
            self.subscriptions.forget(subscription.source_id)
            return
        now = self.clock()
        self.subscriptions.update(
            subscription.source_id, state=UNSUBSCRIBING, retry_at=now + rules.VERIFICATION_WAIT
        )

    def _failed(self, subscription: SourceSubscription, why: str) -> None:
        now = self.clock()
        failures = subscription.failures + 1
        retry = rules.retry_at(failures, now, self.config.max_delivery_attempts)
        retry = retry or now + rules.LONGEST_RETRY
        log.warning(
            "%s: WebSub subscription failed (%s); polling as usual, subscribing again at %s",
            subscription.source_url,
            why,
            f"{retry:%Y-%m-%d %H:%M:%S}",
        )
        self.subscriptions.failed(subscription.source_id, failures, retry, now)

    def _form(self, subscription: SourceSubscription, mode: str) -> dict[str, str]:
        callback = self.settings.hub.base_url + CALLBACK_PATH + subscription.token
        return {"hub.mode": mode, "hub.topic": subscription.topic, "hub.callback": callback}

    def _to_hub(self, subscription: SourceSubscription, form: Mapping[str, str]) -> None:
        source = self.settings.source_by_url(subscription.source_url)
        # A removed source (being unsubscribed) is held to the [fetch] rule.
        allowed = (
            self.settings.source_allows_private(source)
            if source is not None
            else self.settings.fetch.allow_private_networks
        )
        send_form(self.fetcher, subscription.hub, form, allow_private=allowed)

    def verify_intent(self, token: str, query: Mapping[str, str]) -> Answer:
        subscription = self.subscriptions.by_token(token)
        mode, topic = query.get("hub.mode"), query.get("hub.topic")
        if subscription is None or topic != subscription.topic:
            return Answer("404 Not Found", "no such subscription\n")
        now = self.clock()
        challenge = query.get("hub.challenge", "")
        if mode == "denied":
            self._failed(subscription, f"the hub denied it: {query.get('hub.reason', '')}")
            return Answer("200 OK")
        if mode == "unsubscribe" and subscription.state == UNSUBSCRIBING:
            self.subscriptions.forget(subscription.source_id)
            return Answer("200 OK", challenge)
        if (
            mode != "subscribe"
            or not subscription.active
            or subscription.state
            not in (
                REQUESTED,
                LIVE,
            )
        ):
            return Answer("404 Not Found", "no such subscription\n")
        lease = rules.granted_lease(
            query.get("hub.lease_seconds"), self.config.lease, timedelta.max
        )
        self.subscriptions.update(
            subscription.source_id,
            state=LIVE,
            verified_at=now,
            lease_until=now + lease,
            retry_at=rules.renewal_at(now, lease),
            failures=0,
        )
        log.info("%s: its hub pushes for %s", subscription.source_url, lease)
        return Answer("200 OK", challenge)

    def content(self, token: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        subscription = self.subscriptions.by_token(token)
        now = self.clock()
        if subscription is None or not _pushing(subscription, now):
            return Answer("410 Gone", "no such subscription\n")
        if not rules.signature_matches(subscription.secret, body, headers.get("x-hub-signature")):
            log.warning("%s: refused a push without a valid signature", subscription.source_url)
            return Answer("403 Forbidden", "the signature does not match\n")
        content_type = headers.get("content-type", "application/xml")[:200]
        self.subscriptions.save_push(subscription.source_id, body, content_type, now)
        return Answer("202 Accepted")


@contextmanager
def serving_websub(settings: Settings, store: Store, clock: Clock) -> Iterator[WebSub | None]:
    """The WebSub endpoints a web server answers with, when WebSub is on: with a fetcher of
    their own, verifying each subscription request at once in a thread."""
    if not settings.websub.enabled:
        yield None
        return
    fetcher = Fetcher(settings.fetch)
    try:
        yield WebSub(settings, store, fetcher, clock, verify_at_once=True)
    finally:
        fetcher.close()


def _pushing(subscription: SourceSubscription, now: datetime) -> bool:
    """Whether the hub may push now: verified, within its lease, the source still there."""
    lease_until = subscription.lease_until
    return (
        subscription.active
        and subscription.state in (LIVE, REQUESTED)
        and lease_until is not None
        and lease_until > now
    )
