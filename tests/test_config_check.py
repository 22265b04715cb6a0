"""`feedhub check` in one pass: every problem in TOML's words, warnings that do not fail,
and unique default names for unnamed sources (the same in `check` and `sources add`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedhub.config.settings import load_config
from feedhub.core.errors import ConfigError
from tests.cli_runner import invoke

BASE = """
[hub]
title = "t"
base_url = "https://feeds.example.org/"

[[sources]]
url = "https://example.org/feed.xml"
"""


def check(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str) -> tuple[int, list[str]]:
    config = tmp_path / "feedhub.toml"
    config.write_text(text)
    result = invoke(capsys, "--config", config, "check")
    lines = result.stderr.splitlines()
    assert all(line.startswith(f"{config}: ") for line in lines), lines
    return result.returncode, [line.removeprefix(f"{config}: ") for line in lines]


def test_field_and_cross_key_problems_all_come_out_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = BASE.replace('title = "t"', 'title = "t"\nmax_entries = "many"') + (
        '\n[schedule]\nmin_interval = "2h"\nmax_interval = "1h"\n'
        '\n[categories.News]\ntitle = "News"\n'
        '\n[categories.my_news]\ntitle = "Mine"\n'
        '\n[categories.tech]\ntitle = "Tech"\nmatch = "Technology"\n'
    )
    code, lines = check(capsys, tmp_path, text)
    assert code == 2
    expected = [
        "[hub].max_entries: must be a whole number",
        '[categories.tech].match: must be a list of strings, e.g. match = ["Technology"]',
        "[categories.News]: the slug 'News' is not allowed; use only lowercase letters, "
        "digits and '-'",
        "[categories.my_news]: the slug 'my_news' is not allowed",
        "[schedule].min_interval (2h) is longer than max_interval (1h)",
    ]
    for fragment in expected:
        assert [line for line in lines if fragment in line], (fragment, lines)
    assert len(lines) == len(expected), lines
    assert not [line for line in lines if "Input should" in line]


@pytest.mark.parametrize("slug", ["my_news", "News", "-news", "all", "news\n", "naïve"])
def test_a_slug_is_lowercase_letters_digits_and_dashes(tmp_path: Path, slug: str) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text(f'[categories.{json.dumps(slug)}]\ntitle = "x"\n')
    with pytest.raises(ConfigError, match="slug"):
        load_config(config)


@pytest.mark.parametrize("slug", ["news", "world-news-2", "2024"])
def test_good_slugs_load(tmp_path: Path, slug: str) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text(f'[categories.{slug}]\ntitle = "x"\n')
    assert list(load_config(config).categories) == [slug]


def test_sources_written_as_a_table_say_how_to_write_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = '[hub]\ntitle = "t"\n\n[sources]\nurl = "https://example.org/feed.xml"\n'
    code, lines = check(capsys, tmp_path, text)
    assert code == 2
    assert len(lines) == 1
    assert "sources: write each source as [[sources]]" in lines[0]
    assert "Input should" not in lines[0]


def test_warnings_do_not_fail_the_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (
        '[schedule]\ninterval = 600\nmin_interval = "15m"\n\n'
        '[[sources]]\nurl = "https://example.org/a.xml"\ninterval = "1m"\n'
    )
    code, lines = check(capsys, tmp_path, text)
    assert code == 0
    expected = [
        "warning: [hub].base_url is not set, so the published self links and the front page's "
        "links point at http://127.0.0.1:8080/",
        "warning: [schedule].interval = 600 has no unit and is read as seconds (10m); write the "
        'unit, like interval = "10m"',
        "warning: [schedule].interval 10m is shorter than [schedule].min_interval (15m), so it "
        "is polled every 15m",
        "warning: sources #1 (example.org/a.xml): interval 1m is shorter than "
        "[schedule].min_interval (15m), so it is polled every 15m",
    ]
    for fragment in expected:
        assert [line for line in lines if fragment in line], (fragment, lines)
    assert len(lines) == len(expected), lines


def test_no_sources_is_a_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, lines = check(capsys, tmp_path, '[hub]\nbase_url = "https://feeds.example.org/"\n')
    assert code == 0
    assert lines == [
        "warning: no [[sources]]: nothing will be fetched; add one with `feedhub sources add URL`"
    ]


def test_twenty_unnamed_feeds_of_one_site_get_unique_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = BASE.replace('[[sources]]\nurl = "https://example.org/feed.xml"\n', "") + "".join(
        f'\n[[sources]]\nurl = "https://example.org/feeds/{n}.xml"\n' for n in range(20)
    )
    text += '\n[[sources]]\nurl = "https://example.org/feeds/0.xml?page=2"\n'
    code, lines = check(capsys, tmp_path, text)
    assert (code, lines) == (0, [])
    names = [source.name for source in load_config(tmp_path / "feedhub.toml").sources]
    assert names[:2] == ["example.org/feeds/0.xml", "example.org/feeds/1.xml"]
    assert names[-1] == "example.org/feeds/0.xml (2)"
    assert len(set(names)) == 21


def test_sources_add_names_an_unnamed_source_like_config_loading(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text(BASE)
    url = "https://example.org/feed.xml?page=2"
    result = invoke(capsys, "--config", config, "sources", "add", url, "--no-check")
    assert result.returncode == 0, result.stderr
    names = [source.name for source in load_config(config).sources]
    assert names == ["example.org/feed.xml", "example.org/feed.xml (2)"]


def test_a_default_name_never_carries_the_urls_password(tmp_path: Path) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text('[[sources]]\nurl = "https://reader:s3cret@example.org:8443/feed/"\n')
    assert [s.name for s in load_config(config).sources] == ["example.org:8443/feed"]
