"""`feedhub check` and config loading: one line per problem, exit 2, never a traceback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedhub.config.settings import load_config, parse_duration
from tests.conftest import ROOT, run_feedhub

VALID = """
[hub]
title = "t"
base_url = "http://x.test/"

[categories.world]
title = "World"

[[sources]]
url = "https://example.org/feed.xml"
name = "Example"
categories = ["world"]
"""

BROKEN = {
    "unknown key": (
        VALID.replace('title = "t"', 'title = "t"\ntitel = "x"'),
        ["[hub].titel", "unknown key"],
    ),
    "wrong type": (
        VALID.replace('title = "t"', 'title = "t"\nmax_entries = "many"'),
        ["[hub].max_entries"],
    ),
    "missing url": (
        VALID.replace('url = "https://example.org/feed.xml"\n', ""),
        ["sources #1", "url", "required"],
    ),
    "unknown category": (
        VALID.replace('categories = ["world"]', 'categories = ["wrld"]'),
        ["unknown category 'wrld'", "[categories.wrld]"],
    ),
    "bad interval": (
        VALID + '\n[schedule]\ninterval = "often"\n',
        ["[schedule].interval", '"15m"'],
    ),
    "bad url": (
        VALID.replace("https://example.org/feed.xml", "gopher://x/feed"),
        ["sources #1", "gopher://x/feed"],
    ),
    "invalid toml": (VALID + "\n[hub\n", ["invalid TOML", "line"]),
    "duplicate source": (
        VALID + '\n[[sources]]\nurl = "https://example.org/feed.xml"\nname = "Again"\n',
        ["already source #1"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_reports_each_broken_config_on_one_line(tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    config = tmp_path / "feedhub.toml"
    config.write_text(text)
    result = run_feedhub("--config", config, "check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{config}: ")
    for fragment in expected:
        assert fragment in lines[0]


def test_several_problems_give_several_lines(tmp_path: Path) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text(VALID.replace('title = "t"', 'title = "t"\nmax_entries = 0\nbogus = 1'))
    result = run_feedhub("--config", config, "check")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 2


def test_run_once_refuses_an_unusable_config_with_exit_2(tmp_path: Path) -> None:
    result = run_feedhub("--config", tmp_path / "missing.toml", "run", "--once")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{tmp_path / 'missing.toml'}: no such config file; "
        "pass --config PATH or set FEEDHUB_CONFIG"
    ]


def test_config_comes_from_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(VALID)
    monkeypatch.setenv("FEEDHUB_CONFIG", str(config))
    result = run_feedhub("check")
    assert result.returncode == 0, result.stderr
    assert "1 sources" in result.stdout


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    config = tmp_path / "sub" / "feedhub.toml"
    config.write_text(VALID + '\n[[sources]]\nurl = "feeds/local.xml"\nname = "Local"\n')
    settings = load_config(config)
    assert settings.hub.output_dir == tmp_path / "sub" / "public"
    assert settings.hub.database == f"sqlite:///{tmp_path / 'sub' / 'feedhub.sqlite'}"
    assert settings.sources[1].url == (tmp_path / "sub" / "feeds" / "local.xml").as_uri()


def test_example_configs_are_valid() -> None:
    for name in ("demo.toml", "feedhub.toml"):
        assert load_config(ROOT / "config" / name).sources


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (45, 45)]
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "-5m", "0s", "1w", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
