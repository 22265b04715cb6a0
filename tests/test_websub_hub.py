"""feedhub as the WebSub publisher and hub of its own feeds (W3C WebSub, 2018), on loopback:
discovery, subscription, intent verification, content distribution with signatures,
retries, unsubscription, lease expiry, the guard on callbacks, the cap per host, and an
external hub instead."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from feedhub.app.hub import Hub
from feedhub.app.websub import serving_websub
from feedhub.serve.app import BackgroundServer, server_limits, site_app, start_background_server
from tests.conftest import ConfigWriter, open_hub, run_feedhub, start_feedhub
from tests.feedfiles import Sources, item, rss
from tests.test_outputs import stop, wait_for
from tests.websub_peers import Peer, free_port, peer, serve_hub, signature, subscribe

TOPIC = "http://feeds.test/all/atom.xml"
OWN_HUB = "http://feeds.test/websub"


@dataclass
class Site:
    sources: Sources
    server: BackgroundServer

    @property
    def hub(self) -> Hub:
        return self.sources.hub

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/websub"

    def change(self, title: str) -> None:
        """A new article at the source, polled and published (and delivered) in one run."""
        self.sources.poll(rss(item(title, guid=title)))


@pytest.fixture
def make_site(tmp_path: Path, write_config: ConfigWriter) -> Iterator[Any]:
    servers: list[BackgroundServer] = []

    def make(**websub: Any) -> Site:
        options = {"enabled": True, "allow_private_callbacks": True, **websub}
        sources = Sources(tmp_path, write_config, websub=options)
        sources.poll(rss(item("First", guid="first")))
        servers.append(serve_hub(sources.hub))
        return Site(sources, servers[-1])

    yield make
    for server in servers:
        server.close()


def subscribed(site: Site, subscriber: Peer, path: str = "/cb", **extra: str) -> str:
    """Subscribe `subscriber` to the all feed's Atom document, verified; its callback."""
    callback = subscriber.url(path)
    answer = subscribe(site.endpoint, TOPIC, callback, **extra)
    assert answer.status_code == 202
    site.hub.websub.verify_requests()
    return callback


def test_every_feed_advertises_the_hub_beside_itself(make_site: Any) -> None:
    site = make_site()
    atom = site.sources.output("all", "atom.xml").decode()
    assert f'<link href="{TOPIC}" rel="self"/>' in atom
    assert f'<link href="{OWN_HUB}" rel="hub"/>' in atom
    rss_document = site.sources.output("all", "rss.xml").decode()
    assert f'<atom:link href="{OWN_HUB}" rel="hub"/>' in rss_document
    assert 'rel="self"' in rss_document
    assert site.sources.json_feed()["hubs"] == [{"type": "WebSub", "url": OWN_HUB}]


def test_without_websub_no_hub_is_advertised(tmp_path: Path, write_config: ConfigWriter) -> None:
    sources = Sources(tmp_path, write_config)
    sources.poll(rss(item("First", guid="first")))
    assert b'rel="hub"' not in sources.output("all", "atom.xml")
    assert "hubs" not in sources.json_feed()


def test_a_subscription_is_accepted_then_verified_then_recorded(make_site: Any) -> None:
    site = make_site()
    with peer() as subscriber:
        answer = subscribe(
            site.endpoint, TOPIC, subscriber.url("/cb?user=7"), **{"hub.lease_seconds": "86400"}
        )
        assert answer.status_code == 202
        # Verification is asynchronous: nothing is recorded before it.
        assert site.hub.websub.hub.subscribers("all/atom.xml", site.sources.clock()) == []
        site.hub.websub.verify_requests()
        [verification] = subscriber.got("GET", "/cb")
        assert verification.query["user"] == "7"  # the callback's own query is kept
        assert verification.query["hub.mode"] == "subscribe"
        assert verification.query["hub.topic"] == TOPIC
        assert verification.query["hub.lease_seconds"] == "86400"
        assert len(verification.query["hub.challenge"]) >= 16
        assert site.hub.websub.hub.subscribers("all/atom.xml", site.sources.clock()) == [
            subscriber.url("/cb?user=7")
        ]


def test_a_callback_that_does_not_echo_the_challenge_is_not_subscribed(make_site: Any) -> None:
    site = make_site()
    with peer(echo=False) as subscriber:
        subscribed(site, subscriber)
        assert len(subscriber.got("GET")) == 1
        assert site.hub.websub.hub.subscribers("all/atom.xml", site.sources.clock()) == []
        site.change("Second")
        assert subscriber.got("POST") == []


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"hub.mode": "subscribe", "hub.topic": "http://elsewhere/feed"}, "hub.topic"),
        ({"hub.mode": "watch", "hub.topic": TOPIC}, "hub.mode"),
        ({"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": "ftp://x/"}, "callback"),
        ({"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.secret": "s" * 200}, "secret"),
    ],
)
def test_a_bad_request_is_refused_with_its_reason(
    make_site: Any, form: dict[str, str], reason: str
) -> None:
    site = make_site()
    answer = requests.post(
        site.endpoint, data={"hub.callback": "http://127.0.0.1:9/cb", **form}, timeout=10
    )
    assert answer.status_code == 400
    assert reason in answer.text
    assert requests.get(site.endpoint, timeout=10).status_code == 405


def test_a_change_reaches_the_subscriber_signed_with_its_links(make_site: Any) -> None:
    site = make_site()
    with peer() as subscriber:
        subscribed(site, subscriber, **{"hub.secret": "s3cret"})
        assert subscriber.got("POST") == []
        site.change("Second")
        [delivery] = subscriber.got("POST", "/cb")
        published = site.sources.output("all", "atom.xml")
        assert delivery.body == published
        assert b"Second" in delivery.body
        assert delivery.headers["content-type"] == "application/atom+xml; charset=utf-8"
        assert f'<{OWN_HUB}>; rel="hub"' in delivery.headers["link"]
        assert f'<{TOPIC}>; rel="self"' in delivery.headers["link"]
        assert delivery.headers["x-hub-signature"] == signature("s3cret", published)
        site.sources.poll(None)  # nothing changed: nothing is sent
        assert len(subscriber.got("POST")) == 1


def test_without_a_secret_there_is_no_signature(make_site: Any) -> None:
    site = make_site()
    with peer() as subscriber:
        subscribed(site, subscriber)
        site.change("Second")
        [delivery] = subscriber.got("POST")
        assert "x-hub-signature" not in delivery.headers


def test_a_failed_delivery_is_retried_with_backoff(make_site: Any) -> None:
    site = make_site()
    with peer(post_statuses=[500, 503]) as subscriber:
        subscribed(site, subscriber)
        site.change("Second")  # the run's delivery fails; the clock moves 30 minutes on
        assert len(subscriber.got("POST")) == 1
        site.hub.websub.deliver()  # retried at once: the first backoff has passed
        assert len(subscriber.got("POST")) == 2
        site.hub.websub.deliver()  # the second failure waits two minutes
        assert len(subscriber.got("POST")) == 2
        site.sources.clock.advance(timedelta(minutes=2))
        site.hub.websub.deliver()
        posts = subscriber.got("POST")
        assert len(posts) == 3 and posts[-1].body == site.sources.output("all", "atom.xml")
        site.hub.websub.deliver()
        assert len(subscriber.got("POST")) == 3


def test_an_unsubscription_is_verified_then_nothing_more_is_sent(make_site: Any) -> None:
    site = make_site()
    with peer() as subscriber:
        callback = subscribed(site, subscriber)
        form = {"hub.mode": "unsubscribe", "hub.topic": TOPIC, "hub.callback": callback}
        assert requests.post(site.endpoint, data=form, timeout=10).status_code == 202
        site.hub.websub.verify_requests()
        unsubscribing = subscriber.got("GET")[-1]
        assert unsubscribing.query["hub.mode"] == "unsubscribe"
        assert "hub.lease_seconds" not in unsubscribing.query
        site.change("Second")
        assert subscriber.got("POST") == []


def test_a_lease_expires(make_site: Any) -> None:
    site = make_site()
    with peer() as subscriber:
        subscribed(site, subscriber, **{"hub.lease_seconds": "3600"})
        site.sources.clock.advance(timedelta(hours=2))
        site.change("Second")
        assert subscriber.got("POST") == []
        assert site.hub.websub.hub.subscribers("all/atom.xml", site.sources.clock()) == []


def test_private_callbacks_are_refused_unless_allowed(make_site: Any) -> None:
    site = make_site(allow_private_callbacks=False)
    with peer() as subscriber:
        subscribed(site, subscriber)
        assert subscriber.got("GET") == []  # nothing is sent to a private address
        assert site.hub.websub.hub.subscribers("all/atom.xml", site.sources.clock()) == []


def test_subscriptions_per_callback_host_are_capped(make_site: Any) -> None:
    site = make_site(max_subscriptions_per_host=1)
    with peer() as subscriber:
        subscribed(site, subscriber, "/one")
        answer = subscribe(site.endpoint, TOPIC, subscriber.url("/two"))
        assert answer.status_code == 429
        assert "127.0.0.1" in answer.text
        # Renewing the existing subscription is no new one.
        assert subscribe(site.endpoint, TOPIC, subscriber.url("/one")).status_code == 202


def test_an_external_hub_is_advertised_and_pinged_on_change(make_site: Any) -> None:
    with peer() as external:
        site = make_site(hub=external.url("/hub"))
        assert f'<link href="{external.url("/hub")}" rel="hub"/>' in (
            site.sources.output("all", "atom.xml").decode()
        )
        assert json.loads(site.sources.output("all", "feed.json"))["hubs"][0]["url"] == (
            external.url("/hub")
        )
        assert subscribe(site.endpoint, TOPIC, external.url("/cb")).status_code == 404
        site.change("Second")
        pinged = {post.form["hub.url"] for post in external.got("POST", "/hub")}
        assert TOPIC in pinged
        assert all(post.form["hub.mode"] == "publish" for post in external.got("POST"))
        count = len(external.got("POST"))
        site.sources.poll(None)
        assert len(external.got("POST")) == count


def test_workers_sharing_a_store_deliver_each_change_once(make_site: Any) -> None:
    site = make_site()
    second = open_hub(site.sources.config, site.sources.clock)
    with peer(delay=0.5) as subscriber:
        subscribed(site, subscriber)
        site.sources.paths[0].write_bytes(rss(item("Second", guid="second")))
        site.hub.poll(everything=True)
        site.hub.publish_changed(polled=True)
        workers = [threading.Thread(target=hub.websub.deliver) for hub in (site.hub, second)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert len(subscriber.got("POST")) == 1


def test_the_server_verifies_a_request_at_once_without_waiting_for_a_run(
    make_site: Any,
) -> None:
    site = make_site()
    settings = site.hub.settings
    with (
        serving_websub(settings, site.hub.store, site.sources.clock) as websub,
        peer() as subscriber,
    ):
        app = site_app(settings, None, None, websub)
        server, _ = start_background_server(app, "127.0.0.1", 0, limits=server_limits(settings))
        try:
            endpoint = f"http://127.0.0.1:{server.effective_port}/websub"
            assert subscribe(endpoint, TOPIC, subscriber.url("/cb")).status_code == 202
            assert subscriber.wait_for("GET")
        finally:
            server.close()


def test_the_serve_command_takes_subscriptions_and_pushes_as_large_as_a_fetch(
    write_config: ConfigWriter,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    config = write_config(
        [], hub={"base_url": base}, websub={"enabled": True, "allow_private_callbacks": True}
    )
    assert run_feedhub("--config", config, "publish").returncode == 0
    server = start_feedhub("--config", config, "serve", "--port", port)
    try:
        wait_for(port, "/", server)
        with peer() as subscriber:
            answer = subscribe(base + "websub", base + "all/atom.xml", subscriber.url("/cb"))
            assert answer.status_code == 202
            assert subscriber.wait_for("GET")
        large = requests.post(base + "websub/callback/" + "a" * 32, data=b"x" * 100_000, timeout=10)
        assert large.status_code == 410  # read and answered, not refused for its size
    finally:
        stop(server)
