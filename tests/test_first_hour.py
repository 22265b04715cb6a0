"""What a new operator meets on the command line: options, exit codes, tables, OPML, logs.

Issue 14's first hour: `run --all` without `--once`, global options after the
command, OPML exports that say what they left out, one table of exit codes
(README and --help), tables that fit the terminal, and quiet default logging
with a progress line at a terminal.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from feedhub.app import exits
from tests.cli_runner import invoke
from tests.conftest import ROOT, ConfigWriter, run_feedhub, start_feedhub
from tests.hostile import rss, rss_items
from tests.httpserver import FeedServer, Reply

README = (ROOT / "README.md").read_text()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo config with its sample feeds (local files), in a folder of its own."""
    shutil.copytree(ROOT / "config" / "samples", tmp_path / "samples")
    config = tmp_path / "demo.toml"
    shutil.copy(ROOT / "config" / "demo.toml", config)
    return config


def words(text: str) -> str:
    return " ".join(text.split())


# --- item 2: run --all without --once ------------------------------------------------


def test_run_all_without_once_is_refused_in_one_line(demo: Path) -> None:
    """It used to start the daemon; this subprocess would then never end."""
    result = run_feedhub("--config", demo, "run", "--all", timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "feedhub: --all polls every source once; use it with --once (see `feedhub run --help`)"
    ]
    assert not (demo.parent / "public").exists()


# --- item 6: global options after the command ------------------------------------------


def test_global_options_are_accepted_after_the_command(
    demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(demo.parent.parent)  # no feedhub.toml here: only --config finds it
    checked = invoke(capsys, "check", "--config", demo)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{demo}: ok (3 sources, 4 categories)\n"
    listed = invoke(capsys, "sources", "list", "--config", demo, "-q")
    assert listed.returncode == 0, listed.stderr
    assert "Defence Digest" in listed.stdout
    # The subcommand's own options and the global ones mix in any order.
    ran = run_feedhub("run", "--config", demo, "--once", "-v")
    assert ran.returncode == 0, ran.stderr
    assert " DEBUG " in ran.stderr


# --- item 3: OPML exports say what they leave out ---------------------------------------


def test_opml_export_counts_what_it_wrote_and_names_what_it_left_out(
    demo: Path, capsys: pytest.CaptureFixture[str], write_config: ConfigWriter
) -> None:
    exported = demo.parent / "out.opml"
    result = invoke(capsys, "--config", demo, "opml", "export", exported)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"wrote 0 of 3 sources to {exported}",
        "left out 3 local files ('OpenVoiceNews U.S.', 'Defence Digest', 'World Briefing'): "
        "a path on this machine means nothing to another reader; the hub's own feeds carry "
        "their entries",
    ]
    to_stdout = invoke(capsys, "--config", demo, "opml", "export")
    assert to_stdout.stdout.startswith("<?xml")
    assert to_stdout.stderr.startswith("left out 3 local files (")


def test_the_published_sources_opml_lists_local_sources_through_the_hub(demo: Path) -> None:
    result = run_feedhub("--config", demo, "run", "--once")
    assert result.returncode == 0, result.stderr
    opml = (demo.parent / "public" / "sources.opml").read_bytes()
    outlines = etree.fromstring(opml).findall(".//outline[@xmlUrl]")
    assert [(o.get("text"), o.get("xmlUrl")) for o in outlines] == [
        ("World Briefing (through feedhub demo: World)", "http://127.0.0.1:8080/world/atom.xml"),
        (
            "OpenVoiceNews U.S. (through feedhub demo: all entries)",
            "http://127.0.0.1:8080/all/atom.xml",
        ),
        (
            "Defence Digest (through feedhub demo: all entries)",
            "http://127.0.0.1:8080/all/atom.xml",
        ),
    ]
    assert str(demo.parent) not in opml.decode()


# --- item 13: one table of exit codes, one prefix, tables that fit ----------------------


def test_the_exit_codes_in_the_readme_and_in_help_are_one_table() -> None:
    section = README[README.index("Exit codes:") :]
    rows = re.findall(r"^\| `([^`]+)` \| (.+) \|$", section, flags=re.MULTILINE)
    assert rows[: len(exits.TABLE)] == list(exits.TABLE)
    shown = words(run_feedhub("--help").stdout)
    for code, meaning in exits.TABLE:
        assert f"{code} {words(meaning)}" in shown


def test_unknown_sources_are_bad_input_with_one_prefix_everywhere(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    removed = invoke(capsys, "--config", demo, "sources", "remove", "Nope")
    retried = invoke(capsys, "--config", demo, "sources", "retry", "nope")
    assert (removed.returncode, retried.returncode) == (2, 2)
    for result, name in ((removed, "Nope"), (retried, "nope")):
        assert result.stderr.splitlines() == [
            f"feedhub: no source is named or has the URL {name!r}; "
            "see `feedhub sources list` for names and URLs"
        ]
    unknown = invoke(capsys, "--config", demo, "run", "--bogus")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines() == [
        "feedhub: No such option '--bogus'. Did you mean '--verbose'? (see `feedhub run --help`)"
    ]


def at_a_terminal(*args: str | Path, columns: int) -> tuple[int, str]:
    """Run the command line at a terminal `columns` wide; its exit code and what the
    terminal showed (stdout and stderr)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "feedhub", *map(str, args)],
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm"},
    )
    os.close(follower)
    shown = b""
    while chunk := _read(leader):
        shown += chunk
    process.wait(timeout=60)
    os.close(leader)
    return process.returncode, shown.decode(errors="replace").replace("\r\n", "\n")


def _read(terminal: int) -> bytes:
    try:
        return os.read(terminal, 65536)
    except OSError:  # the child closed the terminal
        return b""


def test_status_and_sources_list_fit_the_terminal_under_a_header(
    write_config: ConfigWriter, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    long_path = "/a/very/long/path/that/goes/on/" + "and-on/" * 20 + "feed.xml"
    url = feed_server.route(long_path, Reply(500, b"down " * 200))
    config = write_config([{"url": url, "name": "A source with a rather long name indeed"}])
    assert invoke(capsys, "--config", config, "run", "--once").returncode == 0
    piped = invoke(capsys, "--config", config, "status")
    assert max(map(len, piped.stdout.splitlines())) > 318  # for grep: nothing is cut
    code, shown = at_a_terminal("--config", config, "status", columns=100)
    assert code == 1
    lines = shown.splitlines()
    assert all(len(line) <= 100 for line in lines), lines
    assert lines[0].split()[:2] == ["NAME", "STATE"] and "LAST ERROR" in lines[0]
    assert " failing " in lines[1] and "…" in lines[1]
    code, shown = at_a_terminal("--config", config, "sources", "list", columns=100)
    listed = shown.splitlines()
    assert listed[0].split() == ["NAME", "URL", "CATEGORIES"]
    assert len(listed) == 2 and all(len(line) <= 100 for line in listed), listed


# --- item 8: logging at the default level, progress at a terminal ----------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_default_log_is_one_line_per_changed_or_failed_source(
    write_config: ConfigWriter, feed_server: FeedServer
) -> None:
    config = write_config(
        [
            {
                "url": feed_server.route("/one.xml", Reply.feed(rss(rss_items(1, "One")))),
                "name": "One",
            },
            {
                "url": feed_server.route("/two.xml", Reply.feed(rss(rss_items(2, "Two")))),
                "name": "Two",
            },
            {"url": feed_server.route("/down.xml", Reply(500, b"down")), "name": "Down"},
        ]
    )
    first = run_feedhub("--config", config, "run", "--once")
    assert first.returncode == 0, first.stderr
    lines = [line.split(": ", 1)[1] for line in first.stderr.splitlines()]
    assert sorted(lines) == [
        f"Down is failing: {feed_server.url('/down.xml')}: HTTP 500 Internal Server Error",
        "One: 1 entry, 1 new, 0 updated",
        "Two: 2 entries, 2 new, 0 updated",
    ], first.stderr
    assert first.stdout.startswith("polled 3 sources (1 failing): 3 new, 0 updated entries")
    # Every source again: 304s say nothing, the failure is not news (its streak grows).
    again = run_feedhub("--config", config, "run", "--once", "--all")
    assert [line.split(": ", 1)[1] for line in again.stderr.splitlines()] == [
        f"Down: {feed_server.url('/down.xml')}: HTTP 500 Internal Server Error"
    ], again.stderr
    verbose = run_feedhub("--config", config, "-v", "run", "--once", "--all")
    assert "One: not modified (304)" in verbose.stderr


def test_the_daemon_logs_no_scheduler_chatter(
    write_config: ConfigWriter, feed_server: FeedServer
) -> None:
    url = feed_server.route("/one.xml", Reply.feed(rss(rss_items(1, "One"))))
    config = write_config([{"url": url, "name": "One"}])
    daemon = start_feedhub("--config", config, "run")
    try:
        while not feed_server.hits("/one.xml") and daemon.poll() is None:
            select.select([], [], [], 0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert "apscheduler" not in stderr and "Scheduler" not in stderr, stderr
    assert "feedhub daemon started: 1 source, tick every" in stderr
    assert "One: 1 entry, 1 new, 0 updated" in stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_at_a_terminal_shows_progress_and_a_pipe_gets_none(
    write_config: ConfigWriter, feed_server: FeedServer
) -> None:
    # Answers that take a moment, so the display is drawn at least once.
    sources = [
        {
            "url": feed_server.route(
                f"/{n}.xml", Reply(200, rss(rss_items(1, f"S{n}")), delay=0.3)
            ),
            "name": f"S{n}",
        }
        for n in range(6)
    ]
    config = write_config(sources, fetch={"concurrency": 2, "per_host": 2})
    piped = run_feedhub("--config", config, "run", "--once")
    assert piped.returncode == 0, piped.stderr
    assert "due sources" not in piped.stderr
    code, text = at_a_terminal("--config", config, "run", "--once", "--all", columns=120)
    assert code == 0, text
    assert re.search(r"polled \d of 6 due sources", text), text
    assert "failing" in text
