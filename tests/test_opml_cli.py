"""`opml export` and `opml import`: the source list in and out of OPML, through the config file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from feedhub.config.settings import load_config
from tests.cli_runner import invoke

FULL = """\
# A hub with comments that must survive an import.
[hub]
title = "opml test"
database = "sqlite:///feedhub.sqlite"

[categories.world]
title = "World News"        # a title that does not make this slug

[categories.defense-security]
title = "Defense & Security"
match = ["Defence"]

[[sources]]
url = "https://example.org/world.xml"
name = "World Wire"
categories = ["world"]

[[sources]]
url = "https://example.org/both.xml"
name = "Both"
categories = ["world", "defense-security"]

[[sources]]
url = "https://example.com/misc.xml"
name = "Misc"
"""

EMPTY = """\
[hub]
title = "empty"
database = "sqlite:///feedhub.sqlite"
"""

FROM_A_READER = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Defense &amp; Security">
      <outline type="rss" text="Defense News" xmlUrl="https://www.defensenews.com/rss/"
               htmlUrl="https://www.defensenews.com/"/>
      <outline type="rss" text=" " xmlUrl="https://breakingdefense.com/feed/"/>
    </outline>
    <outline title="Tech" text="Technology">
      <outline text="Blogs">
        <outline type="rss" title="LWN" xmlurl="https://lwn.net/headlines/rss"/>
      </outline>
      <outline type="rss" text="Defense News" xmlUrl="https://www.defensenews.com/rss/"/>
    </outline>
    <outline type="rss" text="No group" xmlUrl="https://example.net/feed"/>
    <outline type="rss" text="Already here" xmlUrl="https://example.org/world.xml"/>
    <outline type="rss" text="Local" xmlUrl="file:///etc/passwd"/>
  </body>
</opml>
"""


def write(tmp_path: Path, text: str, name: str = "feedhub.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def described(config: Path) -> tuple[list[tuple[str, str, tuple[str, ...]]], dict[str, str]]:
    settings = load_config(config)
    sources = sorted((s.url, s.name, s.categories) for s in settings.sources)
    return sources, {slug: category.title for slug, category in settings.categories.items()}


def test_export_then_import_into_an_empty_config_gives_the_same_sources_and_categories(
    tmp_path: Path, capsys
) -> None:
    full = write(tmp_path, FULL)
    exported = tmp_path / "sources.opml"
    result = invoke(capsys, "--config", full, "opml", "export", exported)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote 3 of 3 sources to {exported}\n"

    (tmp_path / "other").mkdir()
    empty = write(tmp_path / "other", EMPTY)
    result = invoke(capsys, "--config", empty, "opml", "import", exported)
    assert result.returncode == 0, result.stderr
    assert "imported 3 of the 3 feeds" in result.stdout
    assert described(empty) == described(full)
    assert empty.read_text().startswith(EMPTY), "the existing text is kept as it was"


def test_export_writes_to_standard_output_without_a_file(tmp_path: Path, capsys) -> None:
    full = write(tmp_path, FULL)
    to_file = invoke(capsys, "--config", full, "opml", "export", tmp_path / "out.opml")
    assert to_file.returncode == 0
    to_stdout = invoke(capsys, "--config", full, "opml", "export")
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout.encode() == (tmp_path / "out.opml").read_bytes()
    assert to_stdout.stdout.startswith("<?xml")


def test_import_merges_groups_into_categories_and_skips_duplicates(tmp_path: Path, capsys) -> None:
    config = write(tmp_path, FULL)
    before = config.read_text()
    opml = tmp_path / "reader.opml"
    opml.write_bytes(FROM_A_READER)
    result = invoke(capsys, "--config", config, "opml", "import", opml)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "skipped https://example.org/world.xml: already a source ('World Wire')" in lines
    assert "skipped file:///etc/passwd: only http(s) feeds are imported" in lines
    assert "added the category 'tech' (Tech)" in lines
    assert "added the category 'blogs' (Blogs)" in lines
    assert lines[-1] == f"imported 4 of the 6 feeds in {opml} into {config}"

    raw = tomllib.loads(config.read_text())
    assert raw["categories"]["tech"] == {"title": "Tech"}
    assert raw["categories"]["blogs"] == {"title": "Blogs"}
    added = {source["url"]: source for source in raw["sources"][3:]}
    assert added == {
        "https://www.defensenews.com/rss/": {
            "url": "https://www.defensenews.com/rss/",
            "name": "Defense News",
            "categories": ["defense-security", "tech"],  # listed in two groups: one source
        },
        "https://breakingdefense.com/feed/": {
            "url": "https://breakingdefense.com/feed/",
            "name": "breakingdefense.com/feed",  # no title: host and path
            "categories": ["defense-security"],
        },
        "https://lwn.net/headlines/rss": {
            "url": "https://lwn.net/headlines/rss",
            "name": "LWN",
            "categories": ["blogs"],  # the nearest group
        },
        "https://example.net/feed": {"url": "https://example.net/feed", "name": "No group"},
    }
    after = config.read_text()
    assert after.startswith(before[: before.index("[[sources]]")]), "comments and order kept"
    assert before[before.index("[[sources]]") :] in after


def test_import_into_one_category(tmp_path: Path, capsys) -> None:
    config = write(tmp_path, FULL)
    opml = tmp_path / "reader.opml"
    opml.write_bytes(FROM_A_READER)
    result = invoke(capsys, "--config", config, "opml", "import", opml, "--category", "world")
    assert result.returncode == 0, result.stderr
    settings = load_config(config)
    assert set(settings.categories) == {"world", "defense-security"}
    assert all(source.categories for source in settings.sources[3:])
    assert {category for s in settings.sources[3:] for category in s.categories} == {"world"}


def test_import_names_made_unique(tmp_path: Path, capsys) -> None:
    config = write(tmp_path, FULL)
    opml = tmp_path / "same.opml"
    opml.write_bytes(
        b'<opml version="2.0"><body>'
        b'<outline text="Misc" xmlUrl="https://a.example/feed"/>'
        b'<outline text="Misc" xmlUrl="https://b.example/feed"/>'
        b"</body></opml>"
    )
    assert invoke(capsys, "--config", config, "opml", "import", opml).returncode == 0
    names = [source.name for source in load_config(config).sources]
    assert names == ["World Wire", "Both", "Misc", "Misc (2)", "Misc (3)"]


@pytest.mark.parametrize(
    ("content", "arguments", "expected"),
    [
        (b"<opml><body><outline", (), "not well-formed XML"),
        (b"<html><body/></html>", (), "not an OPML file"),
        (
            b'<!DOCTYPE opml [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
            b'<opml><body><outline text="&e;" xmlUrl="https://a.example/"/></body></opml>',
            (),
            "external entity",
        ),
        (
            b'<opml version="2.0"><body/></opml>',
            ("--category", "sport"),
            "unknown category 'sport'",
        ),
    ],
    ids=["broken xml", "not opml", "external entity", "unknown category"],
)
def test_import_refusals_are_one_line_and_change_nothing(
    tmp_path: Path, capsys, content: bytes, arguments: tuple[str, ...], expected: str
) -> None:
    config = write(tmp_path, FULL)
    opml = tmp_path / "bad.opml"
    opml.write_bytes(content)
    result = invoke(capsys, "--config", config, "opml", "import", opml, *arguments)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert expected in line
    assert config.read_text() == FULL


def test_importing_a_long_list_renders_the_config_a_bounded_number_of_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work grows with the list, not with its square: the config document is rendered
    a few times per import, not once per feed added (the quadratic cost)."""
    import tomlkit.container

    config = tmp_path / "feedhub.toml"
    config.write_text(FULL)
    groups = "".join(
        f'<outline text="Group {g}">'
        + "".join(
            f'<outline type="rss" text="Feed {g}-{n}" xmlUrl="https://f{g}.example/{n}.xml"/>'
            for n in range(100)
        )
        + "</outline>"
        for g in range(4)
    )
    opml = tmp_path / "many.opml"
    opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><body>{groups}</body></opml>')
    rendered: list[int] = []
    render = tomlkit.container.Container.as_string

    def counting(self: tomlkit.container.Container) -> str:
        text = render(self)
        rendered.append(len(text))
        return text

    monkeypatch.setattr(tomlkit.container.Container, "as_string", counting)
    result = invoke(capsys, "--config", config, "opml", "import", opml)
    assert result.returncode == 0, result.stderr
    assert len(load_config(config).sources) == 403
    size = len(config.read_text())
    # Each table renders its own body once or twice; the whole file only a few times.
    assert sum(rendered) < 20 * size, (len(rendered), sum(rendered), size)
