"""feedhub as a WebSub subscriber of its sources (W3C WebSub, 2018), on loopback, with a
test hub: discovery, the subscription request, intent verification, signed pushes handled
like polls, refusals, renewal, unsubscription, and polling at max_interval meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from feedhub.app.hub import Hub
from feedhub.app.status import SourceStatus, render_table, source_statuses
from feedhub.serve.app import BackgroundServer
from tests.conftest import ConfigWriter, FakeClock, open_hub, start_feedhub
from tests.feedfiles import item
from tests.httpserver import FeedServer, Reply
from tests.test_outputs import stop
from tests.websub_peers import (
    Peer,
    act_as_hub_verifying,
    free_port,
    peer,
    push,
    serve_hub,
    subscribe,
)

DAY = 86400


def source_feed(hub: str, self_url: str, *items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        "<title>Pushing source</title><link>https://news.example/</link>"
        f'<atom:link rel="hub" href="{hub}"/><atom:link rel="self" href="{self_url}"/>'
        + "".join(items)
        + "</channel></rss>\n"
    ).encode()


@dataclass
class Pushed:
    """A source whose feed advertises `test_hub`, polled by `hub`, which serves `server`."""

    source: FeedServer
    test_hub: Peer
    hub: Hub
    server: BackgroundServer
    clock: FakeClock
    config: Path
    write: Any

    @property
    def feed_url(self) -> str:
        return self.source.url("/feed.xml")

    def feed(self, *items: str) -> bytes:
        return source_feed(self.test_hub.url("/hub"), self.feed_url, *items)

    def request(self) -> dict[str, str]:
        """The last subscription request the test hub received."""
        return self.test_hub.got("POST", "/hub")[-1].form

    def verify(self, lease: int = DAY) -> None:
        form = self.request()
        answer = act_as_hub_verifying(
            form["hub.callback"],
            **{"hub.mode": "subscribe", "hub.topic": form["hub.topic"]},
            **{"hub.lease_seconds": str(lease)},
        )
        assert (answer.status_code, answer.text) == (200, "c-123")

    def fetches(self) -> int:
        return len(self.source.hits("/feed.xml"))

    def published(self) -> bytes:
        return (self.hub.settings.hub.output_dir / "all" / "atom.xml").read_bytes()


@pytest.fixture
def pushed(feed_server: FeedServer, write_config: ConfigWriter) -> Iterator[Pushed]:
    port = free_port()
    websub = {"enabled": True, "allow_private_callbacks": True}
    with peer() as test_hub:

        def write(sources: list[dict[str, Any]]) -> Path:
            return write_config(
                sources,
                hub={"base_url": f"http://127.0.0.1:{port}/"},
                websub=websub,
                schedule={"interval": "30m", "max_interval": "1d"},
            )

        config = write([{"url": feed_server.url("/feed.xml"), "name": "Pushing"}])
        clock = FakeClock()
        hub = open_hub(config, clock)
        server = serve_hub(hub, port)
        state = Pushed(feed_server, test_hub, hub, server, clock, config, write)
        feed_server.route("/feed.xml", Reply.feed(state.feed(item("First", guid="first"))))
        hub.run_once()
        yield state
        server.close()


def test_a_source_advertising_a_hub_is_subscribed_with_a_secret_of_its_own(
    pushed: Pushed,
) -> None:
    form = pushed.request()
    assert form["hub.mode"] == "subscribe"
    assert form["hub.topic"] == pushed.feed_url
    assert form["hub.callback"].startswith(pushed.hub.settings.hub.base_url + "websub/callback/")
    assert len(form["hub.secret"]) >= 32
    assert int(form["hub.lease_seconds"]) > 0
    pushed.hub.run_once()  # asked once: no new request while waiting for the verification
    assert len(pushed.test_hub.got("POST", "/hub")) == 1


def test_only_the_verification_of_what_was_asked_is_answered(pushed: Pushed) -> None:
    form = pushed.request()
    callback = form["hub.callback"]
    wrong_topic = act_as_hub_verifying(
        callback, **{"hub.mode": "subscribe", "hub.topic": "http://elsewhere/feed"}
    )
    assert wrong_topic.status_code == 404 and "c-123" not in wrong_topic.text
    unknown = act_as_hub_verifying(
        callback[:-4] + "abcd", **{"hub.mode": "subscribe", "hub.topic": form["hub.topic"]}
    )
    assert unknown.status_code == 404
    not_asked = act_as_hub_verifying(
        callback, **{"hub.mode": "unsubscribe", "hub.topic": form["hub.topic"]}
    )
    assert not_asked.status_code == 404
    pushed.verify()
    assert pushed.hub.websub.pushing() == {pushed.feed_url}


def test_a_signed_push_is_published_without_fetching_the_source(pushed: Pushed) -> None:
    pushed.verify()
    form = pushed.request()
    fetches = pushed.fetches()
    body = pushed.feed(item("First", guid="first"), item("Pushed news", guid="pushed"))
    answer = push(form["hub.callback"], body, form["hub.secret"])
    assert answer.status_code == 202
    pushed.hub.run_once()
    assert b"Pushed news" in pushed.published()
    assert pushed.fetches() == fetches


@pytest.mark.parametrize("secret", [None, "not-the-secret"])
def test_a_push_without_a_valid_signature_changes_nothing(
    pushed: Pushed, secret: str | None
) -> None:
    pushed.verify()
    callback = pushed.request()["hub.callback"]
    body = pushed.feed(item("Forged", guid="forged"))
    assert push(callback, body, secret).status_code == 403
    pushed.hub.run_once()
    assert b"Forged" not in pushed.published()


def test_a_push_to_no_subscription_is_refused(pushed: Pushed) -> None:
    form = pushed.request()
    body = pushed.feed(item("Early", guid="early"))
    # Not verified yet: the hub never had feedhub's intent confirmed.
    assert push(form["hub.callback"], body, form["hub.secret"]).status_code == 410
    assert push(form["hub.callback"][:-4] + "abcd", body, "x").status_code == 410
    pushed.hub.run_once()
    assert b"Early" not in pushed.published()


def test_while_the_hub_pushes_the_source_is_polled_at_max_interval(pushed: Pushed) -> None:
    def next_due() -> timedelta:
        [state] = pushed.hub.store.source_states()
        assert state.next_due is not None
        return state.next_due - pushed.clock()

    assert next_due() < timedelta(hours=1)
    pushed.verify()
    pushed.clock.advance(timedelta(minutes=1))
    pushed.hub.run_once(everything=True)
    assert next_due() >= timedelta(hours=20)


def test_a_failed_subscription_returns_the_source_to_normal_polling(pushed: Pushed) -> None:
    pushed.verify()
    pushed.clock.advance(timedelta(minutes=1))
    pushed.hub.run_once(everything=True)
    form = pushed.request()
    denied = act_as_hub_verifying(
        form["hub.callback"],
        **{"hub.mode": "denied", "hub.topic": form["hub.topic"], "hub.reason": "quota"},
    )
    assert denied.status_code == 200
    assert pushed.hub.websub.pushing() == set()
    [state] = pushed.hub.store.source_states()
    assert state.next_due is not None and state.next_due <= pushed.clock()
    fetches = pushed.fetches()
    pushed.hub.run_once()
    assert pushed.fetches() == fetches + 1


def test_the_lease_is_renewed_before_it_ends(pushed: Pushed) -> None:
    pushed.verify(lease=DAY)
    first = pushed.request()
    pushed.clock.advance(timedelta(hours=12))
    pushed.hub.run_once()
    assert len(pushed.test_hub.got("POST", "/hub")) == 1
    pushed.clock.advance(timedelta(hours=8))
    pushed.hub.run_once()
    renewal = pushed.request()
    assert len(pushed.test_hub.got("POST", "/hub")) == 2
    assert renewal["hub.mode"] == "subscribe"
    assert renewal["hub.callback"] == first["hub.callback"]
    assert pushed.hub.websub.pushing() == {pushed.feed_url}  # still live while it renews


def test_a_renewal_the_hub_refuses_returns_the_source_to_normal_polling(
    pushed: Pushed,
) -> None:
    pushed.verify(lease=DAY)
    pushed.test_hub.post_status = 500
    pushed.clock.advance(timedelta(hours=20))
    pushed.hub.run_once()
    assert pushed.hub.websub.pushing() == set()
    [state] = pushed.hub.store.source_states()
    assert state.next_due is not None and state.next_due <= pushed.clock()


def test_removing_the_source_unsubscribes(pushed: Pushed) -> None:
    pushed.verify()
    form = pushed.request()
    pushed.write([])
    hub = open_hub(pushed.config, pushed.clock)
    hub.run_once()
    unsubscribe = pushed.test_hub.got("POST", "/hub")[-1].form
    assert unsubscribe["hub.mode"] == "unsubscribe"
    assert unsubscribe["hub.callback"] == form["hub.callback"]
    answer = act_as_hub_verifying(
        form["hub.callback"], **{"hub.mode": "unsubscribe", "hub.topic": form["hub.topic"]}
    )
    assert (answer.status_code, answer.text) == (200, "c-123")
    body = pushed.feed(item("After", guid="after"))
    assert push(form["hub.callback"], body, form["hub.secret"]).status_code == 410


def test_a_change_at_a_source_reaches_a_subscribed_reader_within_one_run(
    pushed: Pushed,
) -> None:
    pushed.verify()
    form = pushed.request()
    endpoint = f"http://127.0.0.1:{pushed.server.effective_port}/websub"
    topic = pushed.hub.settings.hub.base_url + "all/atom.xml"
    with peer() as reader:
        assert subscribe(endpoint, topic, reader.url("/reader")).status_code == 202
        pushed.hub.websub.verify_requests()
        fetches = pushed.fetches()
        body = pushed.feed(item("First", guid="first"), item("Breaking", guid="breaking"))
        assert push(form["hub.callback"], body, form["hub.secret"]).status_code == 202
        assert reader.got("POST") == []
        pushed.hub.run_once()
        [delivery] = reader.got("POST", "/reader")
        assert b"Breaking" in delivery.body
        assert delivery.body == pushed.published()
        assert pushed.fetches() == fetches


def test_status_and_the_front_page_show_which_sources_push(pushed: Pushed) -> None:
    def row() -> SourceStatus:
        states = pushed.hub.store.source_states()
        [status] = source_statuses(pushed.hub.settings, states, pushing=pushed.hub.websub.pushing())
        return status

    front_page = pushed.hub.settings.hub.output_dir / "index.html"
    assert not row().push and ">push</span>" not in front_page.read_text()
    pushed.verify()
    pushed.clock.advance(timedelta(minutes=1))
    pushed.hub.run_once(everything=True)
    assert row().push and row().as_json()["push"] is True
    assert "PUSH" in render_table([row()]) and " yes " in render_table([row()])
    assert ">push</span>" in front_page.read_text()


def test_a_poll_finding_entries_the_hub_did_not_push_returns_to_normal_polling(
    pushed: Pushed,
) -> None:
    pushed.verify()
    pushed.source.route(
        "/feed.xml",
        Reply.feed(pushed.feed(item("First", guid="first"), item("Unpushed", guid="unpushed"))),
    )
    pushed.clock.advance(timedelta(minutes=1))
    pushed.hub.run_once(everything=True)  # the safety net's poll
    assert b"Unpushed" in pushed.published()
    assert pushed.hub.websub.pushing() == set()
    [state] = pushed.hub.store.source_states()
    assert state.next_due is not None and state.next_due - pushed.clock() < timedelta(hours=1)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait for something another process does; a generous bound, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_daemon_relays_a_push_from_a_source_to_a_reader(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with peer() as test_hub, peer() as reader:
        feed_url = feed_server.url("/feed.xml")
        first = source_feed(test_hub.url("/hub"), feed_url, item("First", guid="first"))
        feed_server.route("/feed.xml", Reply.feed(first))
        config = write_config(
            [{"url": feed_url, "name": "Pushing"}],
            hub={"base_url": base},
            serve={"enabled": True, "port": port},
            websub={"enabled": True, "allow_private_callbacks": True},
            schedule={"tick": "0.2s"},
        )
        daemon = start_feedhub("--config", config, "run")
        try:
            wait_until(lambda: bool(test_hub.got("POST", "/hub")), "the subscription request")
            form = test_hub.got("POST", "/hub")[0].form
            verified = act_as_hub_verifying(
                form["hub.callback"],
                **{"hub.mode": "subscribe", "hub.topic": feed_url, "hub.lease_seconds": "86400"},
            )
            assert verified.text == "c-123"
            topic = base + "all/atom.xml"
            assert subscribe(base + "websub", topic, reader.url("/r")).status_code == 202
            wait_until(lambda: bool(reader.got("GET")), "the reader's verification")
            fetches = len(feed_server.hits("/feed.xml"))
            news = source_feed(
                test_hub.url("/hub"), feed_url, item("First", guid="first"), item("Live", guid="l")
            )
            assert push(form["hub.callback"], news, form["hub.secret"]).status_code == 202
            wait_until(lambda: bool(reader.got("POST", "/r")), "the delivery to the reader")
            assert b"Live" in reader.got("POST", "/r")[0].body
            assert len(feed_server.hits("/feed.xml")) == fetches
        finally:
            stderr = stop(daemon)
    assert "Traceback" not in stderr
