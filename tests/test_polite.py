"""Polite, resilient polling over a scripted server on 127.0.0.1, moving a FakeClock.

Every scenario asserts on the requests the server received: which, when (by
the injected clock), and with which headers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

import feedparser
import pytest
import sqlalchemy as sa
from lxml import etree

from feedhub.app.hub import Hub
from feedhub.app.scheduler import Daemon
from feedhub.app.status import render_table, source_statuses
from feedhub.core.errors import HTTPStatusError
from feedhub.core.models import (
    Fetched,
    NotModified,
    Redirect,
    SourceHealth,
    SourceState,
)
from feedhub.rules import schedule
from feedhub.store.schema import entries, sources
from tests.conftest import ATOM_SCHEMA, ConfigWriter, FakeClock, open_hub, run_feedhub
from tests.httpserver import FeedServer, Reply, Request

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel><title>{title}</title><link>http://example.org/</link>{extra}
<item><title>{title} one</title><link>http://example.org/{slug}/1</link>
<guid>http://example.org/{slug}/1</guid><pubDate>Fri, 04 Jul 2025 10:00:00 GMT</pubDate></item>
</channel></rss>"""
ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}
MINUTE = timedelta(minutes=1)


def rss(title: str = "Feed", extra: str = "") -> bytes:
    return RSS.format(title=title, slug=title.lower().replace(" ", "-"), extra=extra).encode()


def polite_hub(config: Path, clock: FakeClock) -> Hub:
    """A hub whose jitter draw is 0, so due times are exact."""
    hub = open_hub(config, clock)
    hub.draw = lambda: 0.0
    return hub


def state_of(hub: Hub, name: str) -> SourceState:
    return next(state for state in hub.store.source_states() if state.name == name)


def assert_waits(
    hub: Hub, clock: FakeClock, server: FeedServer, path: str, wait: timedelta
) -> None:
    """No request to `path` a minute before `wait` has passed; one a minute after."""
    before = len(server.hits(path))
    clock.advance(wait - MINUTE)
    hub.run_once()
    assert len(server.hits(path)) == before, f"polled before {wait}"
    clock.advance(2 * MINUTE)
    hub.run_once()
    assert len(server.hits(path)) == before + 1, f"not polled after {wait}"


def scripted(*replies: Reply) -> Callable[[Request], Reply]:
    """Answer with each reply in turn, then keep answering with the last one."""
    queue = list(replies)

    def answer(_request: Request) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return answer


# --- conditional GET ----------------------------------------------------------


def test_validators_are_sent_verbatim_refreshed_on_304_and_a_304_publishes_nothing(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    last_modified = "Thu, 03 Jul 2025 14:42:17 GMT"
    first = Reply(
        200, rss(), {"ETag": 'W/"v1"', "Last-Modified": last_modified, "Content-Type": "text/xml"}
    )
    url = feed_server.route("/feed", scripted(first, Reply(304, b"", {"ETag": '"v2"'})))
    hub = polite_hub(write_config([{"url": url, "name": "Feed"}]), clock)
    assert hub.run_once().published  # the first poll publishes
    atom = hub.settings.hub.output_dir / "all" / "atom.xml"
    mtime = atom.stat().st_mtime_ns
    clock.advance(timedelta(minutes=31))
    second = hub.run_once()
    clock.advance(timedelta(minutes=31))
    third = hub.run_once()
    hits = feed_server.hits("/feed")
    assert len(hits) == 3
    assert "if-none-match" not in hits[0].headers
    assert hits[1].headers["if-none-match"] == 'W/"v1"'  # weak validator kept as sent
    assert hits[1].headers["if-modified-since"] == last_modified
    assert hits[2].headers["if-none-match"] == '"v2"'  # refreshed by the 304
    assert hits[2].headers["if-modified-since"] == last_modified  # the 304 did not resend it
    assert second.published == third.published == []
    assert second.new_entries == third.new_entries == 0
    assert atom.stat().st_mtime_ns == mtime
    assert state_of(hub, "Feed").last_status == 304


def test_a_200_replaces_the_validators_with_what_it_sent(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route(
        "/feed",
        scripted(
            Reply(
                200, rss("One"), {"ETag": '"a"', "Last-Modified": "Thu, 03 Jul 2025 14:00:00 GMT"}
            ),
            Reply(200, rss("Two"), {"ETag": '"b"'}),
        ),
    )
    hub = polite_hub(write_config([{"url": url, "name": "Feed"}]), clock)
    hub.run_once()
    for _ in range(2):
        clock.advance(timedelta(seconds=1))  # --all polls what was not polled since it began
        hub.run_once(everything=True)
    third = feed_server.hits("/feed")[2]
    assert third.headers["if-none-match"] == '"b"'
    assert "if-modified-since" not in third.headers  # the second 200 no longer vouched for it


def test_an_unchanged_body_without_validators_is_not_parsed_or_stored(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/plain", Reply(200, rss("Plain"), {"Content-Type": "text/xml"}))
    hub = polite_hub(write_config([{"url": url, "name": "Plain"}]), clock)
    assert hub.run_once().new_entries == 1
    # Were the body parsed and stored again, this entry would come back.
    with hub.store.writing() as connection:
        connection.execute(entries.delete())
    clock.advance(timedelta(minutes=31))
    unchanged = hub.run_once()
    assert len(feed_server.hits("/plain")) == 2
    assert "if-none-match" not in feed_server.hits("/plain")[1].headers
    assert (unchanged.new_entries, unchanged.published) == (0, [])
    feed_server.route("/plain", Reply(200, rss("Changed"), {"Content-Type": "text/xml"}))
    clock.advance(timedelta(minutes=31))
    assert hub.run_once().new_entries == 1  # a changed body is parsed again


def test_many_304s_are_stored_together_and_every_one_is_recorded(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    urls = [feed_server.route(f"/f{n}", Reply.feed(rss(f"Feed {n}"))) for n in range(12)]
    config = write_config(
        [{"url": url, "name": f"Feed {n}"} for n, url in enumerate(urls)],
        fetch={"concurrency": 8},
    )
    hub = polite_hub(config, clock)
    hub.run_once()
    clock.advance(timedelta(minutes=31))
    transactions: list[object] = []

    def count(connection: sa.Connection) -> None:
        if connection.get_execution_options().get("feedhub_write"):
            transactions.append(connection)

    sa.event.listen(hub.store.engine, "begin", count)
    assert hub.run_once().polled == 12
    sa.event.remove(hub.store.engine, "begin", count)
    states = hub.store.source_states()
    assert {(state.last_status, state.last_attempt) for state in states} == {(304, clock.now)}
    with hub.store.reading() as connection:  # every claim given back with its result
        assert connection.execute(sa.select(sources.c.lease_owner).distinct()).all() == [(None,)]
    # Stored two or more at a time (a quarter of the concurrency), plus the claims.
    assert len(transactions) <= 12 // 2 + 2


# --- when a source is next due --------------------------------------------------


def _expires_in(seconds: int) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "extra", "interval", "wait"),
    [
        ({"Cache-Control": "public, max-age=7200"}, "", "30m", timedelta(hours=2)),
        ({"Expires": "later"}, "", "30m", timedelta(hours=3)),
        ({}, "<ttl>240</ttl>", "30m", timedelta(hours=4)),
        (
            {},
            "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>",
            "30m",
            timedelta(hours=6),
        ),
        ({"Cache-Control": "max-age=60"}, "", "30m", timedelta(minutes=30)),  # interval wins
        ({"Cache-Control": "max-age=2592000"}, "", "30m", timedelta(days=1)),  # max_interval
        ({}, "<ttl>43200</ttl>", "30m", timedelta(days=1)),  # a month's ttl, not trusted
        ({}, "", "1m", timedelta(minutes=5)),  # min_interval
    ],
    ids=["max-age", "expires", "ttl", "sy-period", "short-max-age", "huge", "huge-ttl", "min"],
)
def test_server_hints_stretch_the_interval_within_the_clamp(
    feed_server: FeedServer,
    write_config: ConfigWriter,
    clock: FakeClock,
    headers: dict[str, str],
    extra: str,
    interval: str,
    wait: timedelta,
) -> None:
    if headers.get("Expires") == "later":
        headers = {"Expires": _expires_in(3 * 3600)}  # measured from the response's Date
    body = rss(extra=extra)

    def answer(request: Request) -> Reply:
        # A well-behaved publisher repeats its caching headers on a 304.
        if request.headers.get("if-none-match") == '"same"':
            return Reply(304, b"", {"ETag": '"same"', **headers})
        return Reply(200, body, {"ETag": '"same"', **headers})

    url = feed_server.route("/hinted", answer)
    hub = polite_hub(write_config([{"url": url, "name": "Hinted", "interval": interval}]), clock)
    hub.run_once()
    assert_waits(hub, clock, feed_server, "/hinted", wait)
    # The second poll was a 304: the document's own hint (ttl, sy) is remembered.
    assert feed_server.hits("/hinted")[-1].headers.get("if-none-match") == '"same"'
    assert_waits(hub, clock, feed_server, "/hinted", wait)


def test_jitter_spreads_sources_with_the_same_interval(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    sources = [
        {"url": feed_server.route(f"/j{n}", Reply.feed(rss(f"J{n}"))), "name": f"J{n}"}
        for n in range(3)
    ]
    hub = open_hub(write_config(sources), clock)
    draws = iter([0.0, 0.5, 0.999])
    hub.draw = lambda: next(draws)
    start = clock()
    hub.run_once()
    dues = [state_of(hub, f"J{n}").next_due for n in range(3)]
    interval = timedelta(minutes=30)
    # Never earlier than the interval, at most a tenth of it later, and not together.
    assert dues == [start + interval, start + interval * 1.05, start + interval * 1.0999]


# --- Retry-After ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "wait"),
    [
        (429, "7200", timedelta(hours=2)),
        (503, "date", timedelta(hours=2)),
        (429, "2592000", timedelta(days=1)),  # capped at max_interval
    ],
    ids=["429-seconds", "503-http-date", "capped"],
)
def test_retry_after_is_honored_and_is_not_a_failure(
    feed_server: FeedServer,
    write_config: ConfigWriter,
    clock: FakeClock,
    status: int,
    retry_after: str,
    wait: timedelta,
) -> None:
    value = _expires_in(7200) if retry_after == "date" else retry_after
    url = feed_server.route(
        "/busy",
        scripted(
            Reply.feed(rss("Busy")),
            Reply(status, b"slow down", {"Retry-After": value}),
            Reply(200, rss("Busy")),
        ),
    )
    hub = polite_hub(write_config([{"url": url, "name": "Busy"}]), clock)
    hub.run_once()
    clock.advance(timedelta(minutes=31))
    summary = hub.run_once()
    assert feed_server.hits("/busy")[-1].headers.get("if-none-match")  # the throttled poll
    state = state_of(hub, "Busy")
    assert (state.health, state.failures, state.last_status) == (SourceHealth.OK, 0, status)
    assert "asked to retry after" in (state.last_error or "")
    assert summary.failed == 0 and summary.health_events == 0
    assert_waits(hub, clock, feed_server, "/busy", wait)
    assert state_of(hub, "Busy").last_error is None


def test_a_429_without_retry_after_backs_off_like_any_failure(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/busy", Reply(429, b"slow down"))
    hub = polite_hub(write_config([{"url": url, "name": "Busy"}]), clock)
    hub.run_once()
    state = state_of(hub, "Busy")
    assert (state.health, state.failures) == (SourceHealth.FAILING, 1)


# --- redirects ------------------------------------------------------------------------


def test_301_three_times_moves_the_source_and_302_does_not(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    new = feed_server.route("/new", Reply.feed(rss("Moved")))
    old = feed_server.route("/old", Reply(301, b"", {"Location": new}))
    elsewhere = feed_server.route("/elsewhere", Reply.feed(rss("Temp")))
    temp = feed_server.route("/temp", Reply(302, b"", {"Location": elsewhere}))
    hub = polite_hub(
        write_config([{"url": old, "name": "Moved"}, {"url": temp, "name": "Temp"}]), clock
    )
    for poll in range(1, 5):
        clock.advance(timedelta(seconds=1))  # --all polls what was not polled since it began
        hub.run_once(everything=True)
        moved, kept = state_of(hub, "Moved"), state_of(hub, "Temp")
        assert moved.effective_url == (new if poll >= 3 else None), poll
        assert kept.effective_url is None
    assert len(feed_server.hits("/old")) == 3  # the fourth poll went straight to /new
    assert len(feed_server.hits("/new")) == 4
    assert len(feed_server.hits("/temp")) == 4
    # Validators followed the source: the polls through the redirect were conditional.
    assert all(hit.headers.get("if-none-match") for hit in feed_server.hits("/new")[1:])
    assert state_of(hub, "Moved").url == old  # the configured URL is kept
    rows = {row.name: row for row in source_statuses(hub.settings, hub.store.source_states())}
    assert (rows["Moved"].url, rows["Moved"].effective_url) == (old, new)
    assert f"{old} -> {new}" in render_table(list(rows.values()))


def test_a_permanent_redirect_must_be_seen_on_consecutive_polls() -> None:
    state = _state()
    timing = schedule.Timing(timedelta(minutes=30), timedelta(minutes=5), timedelta(days=1))
    now = datetime(2025, 7, 4, tzinfo=UTC)
    moved = NotModified("http://b/", {}, redirects=(Redirect(308, "http://b/"),))
    plain = NotModified("http://a/", {})
    for outcome in (moved, moved, plain, moved, moved):
        result = schedule.after_success(
            state, outcome, now, timing, body_hash=None, feed_hint_seconds=None
        )
        state = _state(
            effective_url=result.effective_url,
            permanent_redirects=result.permanent_redirects,
            redirect_target=result.redirect_target,
        )
    assert state.effective_url is None and state.permanent_redirects == 2
    # 301 then 302: the permanent part of the chain is what moves.
    chain = Fetched(
        "http://c/",
        200,
        b"",
        {},
        redirects=(Redirect(301, "http://b/"), Redirect(302, "http://c/")),
    )
    result = schedule.after_success(
        state, chain, now, timing, body_hash="x", feed_hint_seconds=None
    )
    assert result.effective_url == "http://b/"
    assert [event.change for event in result.events] == ["moved"]


# --- 410 Gone -------------------------------------------------------------------------


def test_410_stops_polling_keeps_entries_and_sources_retry_resumes_it(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    # The command line uses the real clock, so this test's clock starts at the real time.
    clock = FakeClock(datetime.now(UTC))
    url = feed_server.route("/gone", Reply.feed(rss("Gone")))
    config = write_config([{"url": url, "name": "Gone"}])
    hub = polite_hub(config, clock)
    hub.run_once()
    feed_server.route("/gone", Reply(410, b"gone"))
    clock.advance(timedelta(minutes=31))
    summary = hub.run_once()
    state = state_of(hub, "Gone")
    assert (state.health, state.last_status, state.next_due) == (SourceHealth.GONE, 410, None)
    assert "sources retry Gone" in (state.last_error or "")
    assert summary.health_events == 1
    clock.advance(timedelta(days=3))
    hub.run_once()
    hub.run_once(everything=True)
    assert len(feed_server.hits("/gone")) == 2  # polling stopped
    hub.publish_all()
    published = feedparser.parse((hub.settings.hub.output_dir / "all" / "atom.xml").read_bytes())
    assert [entry.title for entry in published.entries] == ["Gone one"]  # entries stay
    shown = run_feedhub("--config", config, "status", "--json")
    # A gone source needs the operator (retry or remove it), as a failing one does.
    assert shown.returncode == 1, shown.stderr
    assert [(row["state"], row["next_due"]) for row in json.loads(shown.stdout)] == [("gone", None)]
    retried = run_feedhub("--config", config, "sources", "retry", "Gone")
    assert retried.returncode == 0, retried.stderr
    unknown = run_feedhub("--config", config, "sources", "retry", "Nope")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "no source is named" in unknown.stderr
    feed_server.route("/gone", Reply.feed(rss("Gone")))
    hub.run_once()
    assert len(feed_server.hits("/gone")) == 3
    assert state_of(hub, "Gone").health is SourceHealth.OK


# --- backoff --------------------------------------------------------------------------


def test_backoff_grows_to_max_interval_and_resets_on_success(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/flaky", Reply(500, b"oops"))
    hub = polite_hub(
        write_config([{"url": url, "name": "Flaky"}], schedule={"max_interval": "2h"}), clock
    )
    hub.run_once()
    for failures, wait in enumerate([30, 60, 120, 120], start=1):
        assert state_of(hub, "Flaky").failures == failures
        assert_waits(hub, clock, feed_server, "/flaky", timedelta(minutes=wait))
    assert state_of(hub, "Flaky").failures == 5
    feed_server.route("/flaky", Reply.feed(rss("Flaky")))
    assert_waits(hub, clock, feed_server, "/flaky", timedelta(minutes=120))
    assert state_of(hub, "Flaky").failures == 0  # reset by the first success
    feed_server.route("/flaky", Reply(500, b"oops"))
    assert_waits(hub, clock, feed_server, "/flaky", timedelta(minutes=30))  # the interval
    assert_waits(hub, clock, feed_server, "/flaky", timedelta(minutes=30))  # a new streak
    assert state_of(hub, "Flaky").failures == 2


# --- per-host politeness --------------------------------------------------------------


@pytest.mark.parametrize("per_host", [None, 3])
def test_per_host_limit_holds_under_20_sources_on_one_host(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock, per_host: int | None
) -> None:
    lock = threading.Lock()
    active, peak = [0], [0]

    def slow(request: Request) -> Reply:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return Reply(200, rss(request.path.strip("/")), {"Content-Type": "text/xml"})

    sources = [{"url": feed_server.route(f"/s{n}", slow), "name": f"S{n}"} for n in range(20)]
    fetch = {"concurrency": 8} | ({"per_host": per_host} if per_host else {})
    hub = polite_hub(write_config(sources, fetch=fetch), clock)
    summary = hub.run_once()
    assert summary.polled == 20 and summary.failed == 0
    assert len(feed_server.requests) == 20
    assert peak[0] == (per_host or 2)


# --- SIGHUP ---------------------------------------------------------------------------


def _wait_for(condition: Callable[[], bool], what: str, daemon: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            raise AssertionError(f"{what}: {daemon.communicate()[1]}")
        time.sleep(0.05)


def test_sighup_applies_a_good_config_and_keeps_running_on_a_broken_one(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    a, b, c = (
        {"url": feed_server.route(f"/{name}", Reply(200, rss(name))), "name": name}
        for name in "abc"
    )
    schedule = {"interval": "1s", "min_interval": "1s", "max_interval": "1h", "tick": "0.2s"}
    config = write_config([a, b | {"interval": "1h"}], schedule=schedule)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
        stderr=subprocess.PIPE,
        text=True,
    )

    def hits_after(path: str, moment: float) -> int:
        return sum(hit.at > moment for hit in feed_server.hits(path))

    try:
        _wait_for(lambda: len(feed_server.hits("/a")) >= 2, "a polled every second", daemon)
        assert len(feed_server.hits("/b")) == 1  # b waits an hour
        # Good: a removed, b's interval shortened, c added.
        write_config([b, c], schedule=schedule)
        reloaded = time.monotonic()
        daemon.send_signal(signal.SIGHUP)
        _wait_for(lambda: hits_after("/c", reloaded) >= 1, "new source polled at once", daemon)
        # The new config is in force from the first poll of c: a is never polled after it.
        in_force = feed_server.hits("/c")[0].at
        _wait_for(lambda: hits_after("/b", reloaded) >= 2, "changed interval applied", daemon)
        assert hits_after("/a", in_force) == 0  # removed: no longer polled
        # Broken: rejected, and the running config goes on.
        write_config([a, b, c], schedule=schedule | {"interval": "soon"})
        rejected = time.monotonic()
        daemon.send_signal(signal.SIGHUP)
        _wait_for(lambda: hits_after("/c", rejected) >= 2, "still polling", daemon)
        assert hits_after("/a", in_force) == 0
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "config reloaded: 2 sources" in stderr
    rejections = [line for line in stderr.splitlines() if "config reload rejected" in line]
    assert len(rejections) == 1 and "[schedule].interval: 'soon' is not a duration" in rejections[0]


def test_reload_swaps_the_hub_only_for_a_usable_config(
    feed_server: FeedServer,
    write_config: ConfigWriter,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = (
        {"url": feed_server.route(f"/{name}", Reply(200, rss(name))), "name": name} for name in "ab"
    )
    config = write_config([a | {"interval": "6h"}])
    hub = polite_hub(config, clock)
    hub.run_once()
    daemon = Daemon(hub)
    write_config([a | {"interval": "6h"}], schedule={"interval": "soon"})
    assert not daemon.reload() and daemon.hub is hub
    write_config([a], hub={"database": "sqlite:///elsewhere.sqlite"})
    assert not daemon.reload() and daemon.hub is hub
    rejected = [r.getMessage() for r in caplog.records if "reload rejected" in r.getMessage()]
    assert len(rejected) == 2
    assert "[schedule].interval" in rejected[0] and "[hub].database changed" in rejected[1]
    write_config([a, b])  # a: 6h -> the default 30m; b: new
    assert daemon.reload() and daemon.hub is not hub
    assert daemon.hub.metrics is hub.metrics and daemon.hub.store is hub.store
    assert state_of(daemon.hub, "a").next_due == clock() + timedelta(minutes=30)
    assert state_of(daemon.hub, "b").next_due == clock()  # polled at once
    daemon.hub.close()


# --- status ---------------------------------------------------------------------------

STATUS_KEYS = [
    "name",
    "url",
    "effective_url",
    "categories",
    "state",
    "last_attempt",
    "last_success",
    "last_status",
    "has_validators",
    "entries",
    "failures",
    "last_error",
    "next_due",
    "push",
    "held_by",
    "held_until",
]


def test_status_shows_every_source_and_exits_1_when_one_is_failing(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    good = {
        "url": feed_server.route("/good", Reply.feed(rss("Good"))),
        "name": "Good",
        "categories": ["world"],
    }
    bad = {"url": feed_server.route("/bad", Reply(500, b"oops")), "name": "Bad"}
    categories = {"world": {"title": "World"}}
    config = write_config([good, bad], categories)
    assert run_feedhub("--config", config, "run", "--once").returncode == 0
    later = write_config(
        [good, bad, {"url": feed_server.url("/later"), "name": "Later"}], categories
    )
    shown = run_feedhub("--config", later, "status", "--json")
    assert shown.returncode == 1, shown.stderr
    rows = json.loads(shown.stdout)
    assert [list(row) for row in rows] == [STATUS_KEYS] * 3
    by_name = {row["name"]: row for row in rows}
    assert by_name["Good"] | {"last_attempt": None, "last_success": None, "next_due": None} == {
        "name": "Good",
        "url": good["url"],
        "effective_url": None,
        "categories": ["world"],
        "state": "ok",
        "last_attempt": None,
        "last_success": None,
        "last_status": 200,
        "has_validators": True,
        "entries": 1,
        "failures": 0,
        "last_error": None,
        "next_due": None,
        "push": False,
        "held_by": None,
        "held_until": None,
    }
    for key in ("last_attempt", "last_success", "next_due"):
        assert datetime.fromisoformat(by_name["Good"][key]).tzinfo == UTC
        assert by_name["Good"][key].endswith("Z")
    assert by_name["Bad"]["state"] == "failing" and by_name["Bad"]["failures"] == 1
    assert by_name["Bad"]["last_status"] == 500 and by_name["Bad"]["last_success"] is None
    assert "HTTP 500" in by_name["Bad"]["last_error"]
    assert by_name["Later"]["state"] == "new" and by_name["Later"]["last_attempt"] is None
    table = run_feedhub("--config", later, "status")
    assert table.returncode == 1
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "STATE", "FAILURES"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["Good", "ok", "0"],
        ["Bad", "failing", "1"],
        ["Later", "new", "0"],
    ]
    assert "HTTP 500" in lines[2] and "world" in lines[1]
    healthy = write_config([good], categories)
    assert run_feedhub("--config", healthy, "status").returncode == 0


# --- the health feed ------------------------------------------------------------------


def test_the_health_feed_tells_failing_recovered_moved_and_gone(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    flaky = feed_server.route("/flaky", Reply(500, b"oops"))
    new = feed_server.route("/new", Reply.feed(rss("Moved")))
    old = feed_server.route("/old", Reply(308, b"", {"Location": new}))
    gone = feed_server.route("/gone", Reply(410, b"bye & <farewell>"))
    hub = polite_hub(
        write_config(
            [
                {"url": flaky, "name": "Flaky"},
                {"url": old, "name": "Moved"},
                {"url": gone, "name": "Gone <b>"},
            ]
        ),
        clock,
    )
    hub.run_once()
    path = hub.settings.hub.output_dir / "_health" / "atom.xml"
    assert len(feedparser.parse(path.read_bytes()).entries) == 2  # failing, gone
    feed_server.route("/flaky", Reply.feed(rss("Flaky")))
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        hub.run_once(everything=True)
    body = path.read_bytes()
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    assert schema.validate(etree.fromstring(body)), schema.error_log
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    titles = [entry.title for entry in parsed.entries]
    assert titles == ["Moved moved", "Flaky recovered", "Gone <b> is gone", "Flaky is failing"]
    assert "HTTP 500" in parsed.entries[3].summary
    assert f"moved permanently to {new}" in parsed.entries[0].summary
    assert len({entry.id for entry in parsed.entries}) == 4
    # Nothing new happened: the health feed is not rewritten.
    mtime = path.stat().st_mtime_ns
    clock.advance(timedelta(hours=1))
    hub.run_once(everything=True)
    assert path.stat().st_mtime_ns == mtime


# --- pure rules -----------------------------------------------------------------------


def _state(**changes: object) -> SourceState:
    values: dict[str, object] = {
        "id": 1,
        "url": "http://a/",
        "effective_url": None,
        "name": "A",
        "health": SourceHealth.OK,
        "etag": None,
        "last_modified": None,
        "body_hash": None,
        "last_attempt": None,
        "last_success": None,
        "last_status": None,
        "last_error": None,
        "failures": 0,
        "permanent_redirects": 0,
        "redirect_target": None,
        "next_due": None,
    }
    return SourceState(**(values | changes))


def test_retry_after_on_a_failing_source_keeps_its_streak() -> None:
    state = _state(health=SourceHealth.FAILING, failures=3)
    timing = schedule.Timing(timedelta(minutes=30), timedelta(minutes=5), timedelta(days=1))
    now = datetime(2025, 7, 4, tzinfo=UTC)
    error = HTTPStatusError(503, "HTTP 503", {"retry-after": "600"})
    result = schedule.after_failure(state, error, now, timing)
    assert (result.health, result.failures) == (SourceHealth.FAILING, 3)
    assert result.next_due == now + timedelta(minutes=10)
    assert result.events == ()
