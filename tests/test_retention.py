"""Retention: what is pruned and what is kept, ids of what remains, pruned entries that come
back upstream, and pruning at most once an hour with a log line."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedhub.store.schema import entries, pruned_keys
from tests.conftest import ConfigWriter
from tests.feedfiles import Sources, item, rss


def story(name: str, site: str = "a") -> str:
    return item(f"Story {name}", guid=name, link=f"https://{site}.example/{name}")


@pytest.fixture
def three(tmp_path: Path, write_config: ConfigWriter) -> Sources:
    return Sources(tmp_path, write_config, 3, hub={"keep_days": 2, "keep_min": 1})


def titles(sources: Sources) -> set[str]:
    return {entry.title for entry in sources.published()}


def test_old_entries_are_pruned_except_those_still_listed_or_newest_or_carried(
    three: Sources, caplog: pytest.LogCaptureFixture
) -> None:
    a0 = [story("a1"), story("a2"), story("a3"), story("listed"), story("shared")]
    three.poll(rss(*a0), rss(story("shared")), rss(story("c1", "c")))
    before = {entry.title: entry.id for entry in three.published()}
    three.clock.advance(timedelta(days=3))
    caplog.set_level(logging.INFO, logger="feedhub.store.retention")
    three.poll(rss(story("a4"), story("listed")), None, rss())
    assert titles(three) == {"Story a4", "Story listed", "Story shared", "Story c1"}
    # Pruning never changes the ids of what remains.
    after = {entry.title: entry.id for entry in three.published()}
    assert all(after[title] == before[title] for title in after if title in before)
    assert "retention: pruned 3 entries first seen more than 2 days ago" in caplog.text
    with three.hub.store.reading() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(entries)).scalar() == 5


def test_a_pruned_entry_that_reappears_upstream_is_not_new(three: Sources) -> None:
    three.poll(rss(story("gone"), story("stays")), rss(), rss())
    three.clock.advance(timedelta(days=3))
    three.poll(rss(story("stays"), story("newer")), None, None)
    assert "Story gone" not in titles(three)
    summary = three.poll(rss(story("gone"), story("stays"), story("newer")), None, None)
    assert summary.new_entries == 0
    assert "Story gone" not in titles(three)
    # The same article under a guid written another way is recognized too.
    churned = item("Story gone", guid="gone", link="https://www.a.example/gone/")
    summary = three.poll(rss(churned, story("stays"), story("newer")), None, None)
    assert summary.new_entries == 0
    with three.hub.store.reading() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(pruned_keys)).scalar()


def test_pruning_runs_at_most_once_an_hour(
    three: Sources, caplog: pytest.LogCaptureFixture
) -> None:
    # Passes that prune nothing are logged at DEBUG: count every pass.
    caplog.set_level(logging.DEBUG, logger="feedhub.store.retention")
    three.poll(rss(story("old"), story("kept")), rss(), rss())
    three.clock.advance(timedelta(days=3))
    three.poll(rss(story("old"), story("kept")), None, None, advance=timedelta(minutes=1))
    assert caplog.text.count("retention: pruned") == 2
    # "old" is no longer listed, but pruning ran a minute ago: it stays for now.
    three.poll(rss(story("kept"), story("new")), None, None, advance=timedelta(minutes=58))
    three.poll(None, None, None, advance=timedelta(minutes=1))
    assert caplog.text.count("retention: pruned") == 2
    assert "Story old" in titles(three)
    three.poll(None, None, None)
    assert caplog.text.count("retention: pruned") == 3
    assert "Story old" not in titles(three)


def test_a_store_with_nothing_old_enough_is_pruned_without_ranking_its_entries(
    three: Sources,
) -> None:
    # Ranking every entry of every source is what pruning costs; a store whose entries are
    # all younger than keep_days (any store in its first days) has nothing to rank.
    executed: list[str] = []

    def record(*args: object) -> None:
        executed.append(str(args[2]))

    sa.event.listen(three.hub.store.engine, "before_cursor_execute", record)
    try:
        three.poll(rss(story("a1"), story("a2")), rss(story("b1", "b")), rss())
    finally:
        sa.event.remove(three.hub.store.engine, "before_cursor_execute", record)
    assert titles(three) == {"Story a1", "Story a2", "Story b1"}
    assert any("pruned_keys" in sql for sql in executed)  # a pruning pass ran
    assert not any("row_number" in sql.lower() for sql in executed)
