"""Every problem of a broken config at once: one line each naming file, key and fix; exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_feedhub

MANY_PROBLEMS = """
[hub]
titel = "x"
max_entries = "many"

[categories.world]
title = "World"

[schedule]
interval = "often"

[[sources]]
url = "https://example.org/a.xml"
categories = ["wrld"]

[[sources]]
url = "https://example.org/a.xml"
name = "Dup"

[[sources]]
url = "gopher://x"

[[sources]]
url = "https://example.org/c.xml"
name = "Dup"
categories = "world"
"""


def test_field_problems_and_cross_checks_are_all_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text(MANY_PROBLEMS)
    result = run_feedhub("--config", config, "check")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    expected = [
        "[hub].titel: unknown key (did you mean 'title'?)",
        "[hub].max_entries: must be a whole number without quotes",
        "[schedule].interval: 'often' is not a duration",
        "sources #3 (gopher://x): url: 'gopher://x' is not an http(s) URL",
        'sources #4 (Dup): categories: must be a list of strings, e.g. categories = ["world"]',
        # The cross-checks, although fields did not validate:
        "sources #1 (example.org/a.xml): categories: unknown category 'wrld'",
        "sources #2 (Dup): url 'https://example.org/a.xml' is already source #1",
        "sources #4 (Dup): name 'Dup' is already used by source #2",
    ]
    for fragment in expected:
        assert [line for line in lines if fragment in line], (fragment, lines)
    assert len(lines) == len(expected)
    assert all(line.startswith(f"{config}: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_an_unreadable_config_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "feedhub.toml"
    folder.mkdir()  # root reads any file, so a folder stands in for one it cannot read
    monkeypatch.setenv("FEEDHUB_CONFIG", str(folder))
    result = run_feedhub("check")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{folder}: cannot read the config file (Is a directory); check its permissions"
    )


def test_a_config_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_bytes(b'[hub]\ntitle = "caf\xe9"\n')
    result = run_feedhub("--config", config, "check")
    assert result.returncode == 2
    assert result.stderr.strip() == f"{config}: not UTF-8 text (byte 18); save the file as UTF-8"
