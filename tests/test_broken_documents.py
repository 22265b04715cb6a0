"""A document that is not well formed is a visible warning, and nothing half-read or empty
is published: no placeholder title, no entry with nothing to show."""

from __future__ import annotations

from datetime import timedelta

from feedhub.app.status import render_table, source_statuses
from feedhub.core.models import SourceHealth
from tests.conftest import ConfigWriter, FakeClock, open_hub, output_files
from tests.hostile import rss, rss_items
from tests.httpserver import FeedServer, Reply

CUT = rss(rss_items(2)).split(b"</channel>")[0] + (
    b"<item><guid>cut-3</guid><link>http://example.org/Entry/3</link><desc"
)
EMPTY_AND_TEXT_ONLY = rss(
    "<item><guid>nothing</guid></item>"
    "<item><guid>text-only</guid><description>Only a text, no title</description></item>"
    "<item><guid>episode</guid><enclosure url='http://example.org/ep-12.mp3' "
    "type='audio/mpeg' length='10'/></item>"
)


def test_a_truncated_feed_is_a_warning_and_its_cut_entry_is_left_out(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/cut.xml", Reply.feed(CUT))
    hub = open_hub(write_config([{"url": url, "name": "Cut"}]), clock)
    summary = hub.run_once()
    assert summary.failed == 0
    (state,) = hub.store.source_states()
    assert state.health is SourceHealth.WARNING
    assert state.last_error is not None and "not well formed" in state.last_error
    assert "ends inside an entry" in state.last_error
    (row,) = source_statuses(hub.settings, [state])
    assert " warning " in render_table([row]).splitlines()[1]
    files = output_files(hub.settings)
    assert b"Entry 0" in files["all/atom.xml"] and b"Entry 1" in files["all/atom.xml"]
    assert b"cut-3" not in files["all/atom.xml"]
    assert all(b"(untitled)" not in body for body in files.values())
    assert b'class="health health-warning">warning<' in files["index.html"]
    health = files["_health/atom.xml"].decode()
    assert "Cut has a problem in its feed" in health and "not well formed" in health

    # Whole again: ok, and the health feed says so.
    feed_server.route("/cut.xml", Reply.feed(rss(rss_items(3))))
    clock.advance(timedelta(hours=1))
    hub.run_once()
    (state,) = hub.store.source_states()
    assert (state.health, state.last_error) == (SourceHealth.OK, None)
    health = output_files(hub.settings)["_health/atom.xml"].decode()
    assert "Cut sends a document without problems again" in health


def test_an_entry_with_nothing_to_show_is_not_published(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    url = feed_server.route("/empty.xml", Reply.feed(EMPTY_AND_TEXT_ONLY))
    hub = open_hub(write_config([{"url": url, "name": "Empty"}]), clock)
    hub.run_once()
    files = output_files(hub.settings)
    atom = files["all/atom.xml"].decode()
    assert atom.count("<entry>") == 2, atom
    assert "<title>Only a text, no title</title>" in atom
    assert "<title>ep-12.mp3</title>" in atom
    assert all(b"(untitled)" not in body for body in files.values())
