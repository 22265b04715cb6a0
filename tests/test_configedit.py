"""`sources add|remove` edit the TOML config in place: every byte outside the edited table stays."""

from __future__ import annotations

import shutil
import socket
import stat
import tomllib
from pathlib import Path

import pytest

from feedhub.config.edit import ConfigEditor, NewSource, slugify
from feedhub.core.errors import ConfigError
from tests.cli_runner import invoke
from tests.conftest import ROOT, run_feedhub

BANNER = "# Sources: the feeds to poll."


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The commented demo config, with its sample feeds, in a folder of its own."""
    shutil.copytree(ROOT / "config" / "samples", tmp_path / "samples")
    config = tmp_path / "feedhub.toml"
    shutil.copy(ROOT / "config" / "demo.toml", config)
    return config


def edited_block(longer: bytes, shorter: bytes) -> bytes:
    """The one block `longer` has and `shorter` lacks; fails if they differ anywhere else.

    Where repeated text makes several cuts possible, the edited table is the one
    that is whole lines of valid TOML starting with a table header.
    """
    size = len(longer) - len(shorter)
    start = 0
    while start < len(shorter) and longer[start] == shorter[start]:
        start += 1
    assert longer[:start] + longer[start + size :] == shorter, "bytes outside the table changed"
    while start >= 0 and longer[:start] + longer[start + size :] == shorter:
        block = longer[start : start + size]
        at_header = block.lstrip(b"\n").startswith(b"[")
        if at_header and (start == 0 or longer[start - 1] == ord("\n")) and _is_toml(block):
            return block
        start -= 1
    raise AssertionError("the edited bytes are not whole TOML lines")


def table_of(block: bytes) -> dict[str, object]:
    return tomllib.loads(block.decode())


def _is_toml(block: bytes) -> bool:
    try:
        table_of(block)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return True


def test_add_inserts_one_table_and_keeps_every_other_byte(demo: Path, capsys) -> None:
    before = demo.read_bytes()
    result = invoke(
        capsys,
        *("--config", demo, "sources", "add", "https://example.org/feed.xml", "--no-check"),
        *("--name", "Example", "--category", "world", "--category", "politics"),
        *("--interval", "2h"),
    )
    assert result.returncode == 0, result.stderr
    assert "added 'Example' (https://example.org/feed.xml)" in result.stdout
    block = edited_block(demo.read_bytes(), before)
    assert table_of(block) == {
        "sources": [
            {
                "url": "https://example.org/feed.xml",
                "name": "Example",
                "categories": ["world", "politics"],
                "interval": "2h",
            }
        ]
    }
    assert block.startswith(b"\n[[sources]]\n"), "a blank line separates it from the last one"
    assert invoke(capsys, "--config", demo, "check").returncode == 0


def test_a_new_category_goes_after_the_last_one_before_the_comments_that_follow(
    demo: Path,
) -> None:
    before = demo.read_bytes()
    editor = ConfigEditor(demo)
    assert editor.category_for("Science & Tech") == "science-tech"
    editor.save()
    after = demo.read_bytes()
    block = edited_block(after, before)
    assert table_of(block) == {"categories": {"science-tech": {"title": "Science & Tech"}}}
    assert after.index(b'match = ["Politics"]') < after.index(block) < after.index(BANNER.encode())


def test_category_for_finds_existing_categories_by_slug_or_title(demo: Path) -> None:
    editor = ConfigEditor(demo)
    assert editor.category_for("Anything", "world") == "world"
    assert editor.category_for("economy & business") == "economy"
    assert editor.category_for("Defense & Security") == "defense-security"
    assert editor.render() == demo.read_text(), "nothing was added"


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Defense & Security", "defense-security"),
        ("  Économie / Finances ", "economie-finances"),
        ("All", "all-feeds"),
        ("新聞", "category"),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


@pytest.mark.parametrize(
    ("which", "how"),
    [
        ("OpenVoiceNews U.S.", "name"),
        ("samples/defence-digest.xml", "url as written"),
        ("World Briefing", "name"),
    ],
)
def test_remove_takes_out_only_that_table(demo: Path, capsys, which: str, how: str) -> None:
    before = demo.read_bytes()
    result = invoke(capsys, "--config", demo, "sources", "remove", which)
    assert result.returncode == 0, result.stderr
    assert "removed '" in result.stdout
    block = edited_block(before, demo.read_bytes())
    (removed,) = table_of(block)["sources"]  # type: ignore[misc]
    assert which in (removed["name"], removed["url"])
    assert block.lstrip(b"\n").startswith(b"[[sources]]")
    remaining = [source.name for source in ConfigEditor(demo).settings.sources]
    assert len(remaining) == 2 and which not in remaining


def test_remove_by_url_in_any_spelling(demo: Path, capsys, monkeypatch) -> None:
    """A URL as written in the config, as an absolute file: URL, or a path from here."""
    monkeypatch.chdir(demo.parent / "samples")
    file_url = (demo.parent / "samples" / "world-briefing.rdf").as_uri()
    for spelling in ("samples/defence-digest.xml", file_url, "openvoicenews-us.xml"):
        result = invoke(capsys, "--config", demo, "sources", "remove", spelling)
        assert result.returncode == 0, result.stderr
    assert ConfigEditor(demo).settings.sources == ()
    assert BANNER in demo.read_text()


def test_removing_the_last_source_keeps_the_comments_after_it(tmp_path: Path) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text(
        '[[sources]]\nurl = "https://a.example/feed"\n\n'
        '[[sources]]\n# about b\nurl = "https://b.example/feed"  # b\n'
        '\n# [[sources]]\n# url = "https://c.example/feed"\n'
    )
    editor = ConfigEditor(config)
    editor.remove_source("b.example/feed")
    editor.save()
    assert config.read_text() == (
        '[[sources]]\nurl = "https://a.example/feed"\n'
        '\n# [[sources]]\n# url = "https://c.example/feed"\n'
    )


def test_add_then_remove_gives_back_the_same_bytes(demo: Path, capsys) -> None:
    before = demo.read_bytes()
    add = ("sources", "add", "https://example.org/feed.xml", "--no-check", "--name", "X")
    assert invoke(capsys, "--config", demo, *add).returncode == 0
    assert invoke(capsys, "--config", demo, "sources", "remove", "X").returncode == 0
    assert demo.read_bytes() == before


def test_an_edit_that_makes_the_config_invalid_is_not_written(demo: Path) -> None:
    before = demo.read_bytes()
    editor = ConfigEditor(demo)
    editor.add_source(NewSource("https://example.org/feed.xml", "Example"))
    editor.document["hub"]["max_entries"] = 0  # type: ignore[index]
    with pytest.raises(ConfigError) as error:
        editor.save()
    assert "max_entries" in str(error.value)
    assert demo.read_bytes() == before
    assert [path.name for path in demo.parent.iterdir() if path.name.startswith(".")] == []


def test_the_file_keeps_its_permissions_and_its_symlink(tmp_path: Path, demo: Path) -> None:
    demo.chmod(0o600)
    link = tmp_path / "link.toml"
    link.symlink_to(demo)
    editor = ConfigEditor(link)
    editor.add_source(NewSource("https://example.org/feed.xml", "Example"))
    editor.save()
    assert link.is_symlink()
    assert stat.S_IMODE(demo.stat().st_mode) == 0o600
    assert "https://example.org/feed.xml" in demo.read_text()


REFUSALS = {
    "same url": (
        ["samples/world-briefing.rdf"],
        ["samples/world-briefing.rdf", "already a source", "World Briefing"],
    ),
    "same name": (
        ["https://example.org/feed.xml", "--name", "Defence Digest"],
        ["'Defence Digest' is already used", "--name"],
    ),
    "unknown category": (
        ["https://example.org/feed.xml", "--category", "sport"],
        ["unknown category 'sport'", "[categories.sport]", "defense-security, economy"],
    ),
    "bad interval": (
        ["https://example.org/feed.xml", "--interval", "often"],
        ["interval", "'often' is not a duration"],
    ),
    "not a url": (["gopher://example.org/feed"], ["not an http(s) URL"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_add_refuses_with_one_line_and_exit_2(demo: Path, capsys, monkeypatch, case: str) -> None:
    monkeypatch.chdir(demo.parent)
    arguments, expected = REFUSALS[case]
    before = demo.read_bytes()
    result = invoke(capsys, "--config", demo, "sources", "add", *arguments, "--no-check")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    for fragment in expected:
        assert fragment in line
    assert demo.read_bytes() == before


def test_the_real_command_refuses_a_duplicate_with_one_line(demo: Path) -> None:
    result = run_feedhub(
        "--config", demo, "sources", "add", demo.parent / "samples" / "defence-digest.xml"
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "already a source ('Defence Digest')" in result.stderr
    assert "Traceback" not in result.stderr


def test_remove_of_an_unknown_source_is_refused(demo: Path, capsys) -> None:
    before = demo.read_bytes()
    result = invoke(capsys, "--config", demo, "sources", "remove", "Nobody")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "feedhub: no source is named or has the URL 'Nobody'; "
        "see `feedhub sources list` for names and URLs"
    ]
    assert demo.read_bytes() == before


def test_no_check_adds_without_touching_the_network(demo: Path, capsys) -> None:
    """Nothing listens on the port: the check fails, --no-check does not fetch at all."""
    demo.write_text(
        demo.read_text().replace("allow_private_networks = false", "allow_private_networks = true")
    )
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/rss.xml"
    checked = invoke(capsys, "--config", demo, "sources", "add", url)
    assert checked.returncode == 1
    (line,) = checked.stderr.splitlines()
    assert "cannot connect" in line and "--no-check" in line
    unchecked = invoke(capsys, "--config", demo, "sources", "add", url, "--no-check")
    assert unchecked.returncode == 0, unchecked.stderr
    assert f"added '{url.removeprefix('http://')}' ({url})" in unchecked.stdout


def test_a_local_feed_is_written_relative_to_the_config(demo: Path, capsys, monkeypatch) -> None:
    (demo.parent / "more").mkdir()
    shutil.copy(demo.parent / "samples" / "world-briefing.rdf", demo.parent / "more" / "w.rdf")
    monkeypatch.chdir(demo.parent / "more")
    result = invoke(capsys, "--config", demo, "sources", "add", "w.rdf", "--name", "Copy")
    assert result.returncode == 0, result.stderr
    assert '\nurl = "more/w.rdf"\nname = "Copy"\n' in demo.read_text()


def test_add_to_a_config_whose_sources_are_an_empty_array(tmp_path: Path, capsys) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text('sources = []\n\n[hub]\ntitle = "Empty"\n')
    added = invoke(
        capsys, "--config", config, "sources", "add", "https://example.org/feed.xml", "--no-check"
    )
    assert added.returncode == 0, added.stderr
    written = tomllib.loads(config.read_text())
    assert [source["url"] for source in written["sources"]] == ["https://example.org/feed.xml"]
    assert invoke(capsys, "--config", config, "check").returncode == 0
