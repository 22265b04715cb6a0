"""Everything from outside crosses one border where it is made safe (issue 13).

Control characters from a feed, an HTTP reason phrase, the config or the command
line never stop publishing nor reach a terminal; a document that cannot be
published never stops the others; what is published names the class of a
failure, never a local path or an internal address.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feedhub.config.settings import load_config
from feedhub.store.facade import Store
from feedhub.store.schema import sources as sources_table
from tests.cli_runner import invoke
from tests.conftest import ConfigWriter, output_files, run_feedhub
from tests.feedfiles import item, rss
from tests.hostile import HostileServer
from tests.httpserver import FeedServer, Reply

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# What a terminal acts on: C0 controls (ESC, BEL, NUL...), DEL and the C1 controls.
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Not well formed (an unclosed <b>), so feedparser's loose parser reads it, and that one
# turns "&#1;" into a real control character in the channel's title and link.
LOOSE_FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
    b"<title>Loose&#1; Wire</title><link>https://loose.example/&#1;home</link>"
    b"<item><title>One <b>bold</title><link>https://loose.example/1</link>"
    b"<guid>l1</guid></item></channel></rss>"
)


def site_documents(config: Path) -> dict[str, bytes]:
    return output_files(load_config(config))


def assert_well_formed(config: Path) -> None:
    for name, body in site_documents(config).items():
        if name.endswith((".xml", ".opml")):
            etree.fromstring(body)
        elif name.endswith(".json"):
            json.loads(body)
        assert not TERMINAL_CONTROLS.search(body.decode("utf-8")), name


# --- item 1: one remote feed stopped all publishing ---------------------------------


@SQLITE
def test_control_characters_in_a_feeds_title_and_link_never_stop_publishing(
    feed_server: FeedServer, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    url = feed_server.route("/loose.xml", Reply.feed(LOOSE_FEED))
    config = write_config([{"url": feed_server.url("/other.xml"), "name": "Other"}])
    added = invoke(capsys, "--config", config, "sources", "add", url)
    assert added.returncode == 0, added.stderr
    assert load_config(config).sources[1].name == "Loose Wire"
    ran = invoke(capsys, "--config", config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    output = load_config(config).hub.output_dir
    assert {"index.html", "sources.opml", "all/atom.xml"} <= set(site_documents(config))
    assert_well_formed(config)
    opml = etree.fromstring((output / "sources.opml").read_bytes())
    (outline,) = opml.iterfind(f".//outline[@xmlUrl='{url}']")
    assert outline.get("htmlUrl") == "https://loose.example/home"
    exported = invoke(capsys, "--config", config, "opml", "export")
    assert exported.returncode == 0, exported.stderr
    etree.fromstring(exported.stdout.encode())


@SQLITE
def test_values_stored_before_the_border_are_cleaned_on_the_way_out(
    feed_server: FeedServer, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    url = feed_server.route("/feed.xml", Reply.feed(rss(item("One", guid="1"))))
    config = write_config([{"url": url, "name": "Wire"}])
    assert invoke(capsys, "--config", config, "run", "--once").returncode == 0
    settings = load_config(config)
    store = Store.open(settings.hub.database)
    with store.writing() as connection:  # as an older feedhub stored them
        connection.execute(
            sources_table.update().values(
                site_link="https://wire.example/\x01\x1b[31m", last_error="bad\x00\x1b]0;x\x07"
            )
        )
    store.close()
    published = invoke(capsys, "--config", config, "publish")
    assert published.returncode == 0, published.stderr
    assert_well_formed(config)
    exported = invoke(capsys, "--config", config, "opml", "export")
    assert exported.returncode == 0, exported.stderr
    assert "https://wire.example/[31m" in exported.stdout
    status = invoke(capsys, "--config", config, "status")
    assert not TERMINAL_CONTROLS.search(status.stdout), status.stdout
    as_json = invoke(capsys, "--config", config, "status", "--json")
    assert not TERMINAL_CONTROLS.search(json.loads(as_json.stdout)[0]["last_error"])


@pytest.mark.parametrize(
    ("section", "key", "written"),
    [
        ("hub", "title", 'title = "Hub\\u0001"'),
        ("hub", "title", 'title = "Hub\\u009b31m"'),
        ("categories.world", "title", 'title = "World\\u001b]0;x\\u0007"'),
        ("fetch", "user_agent", 'user_agent = "agent\\u0000"'),
    ],
)
def test_the_config_refuses_control_characters_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, written: str
) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text(f"[{section}]\n{written}\n")
    checked = invoke(capsys, "--config", config, "check")
    assert checked.returncode == 2
    (line,) = checked.stderr.splitlines()
    assert key in line and "control character" in line, line
    assert not TERMINAL_CONTROLS.search(line)


def test_sources_add_refuses_a_name_with_a_control_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text('[hub]\ntitle = "hub"\n')
    before = config.read_bytes()
    added = invoke(
        capsys, "--config", config, "sources", "add", "https://example.org/feed.xml",
        "--no-check", "--name", "Wire\x1b[2J",
    )  # fmt: skip
    assert added.returncode == 2
    (line,) = added.stderr.splitlines()
    assert "name" in line and "control character" in line, line
    assert not TERMINAL_CONTROLS.search(line)
    assert config.read_bytes() == before


@SQLITE
def test_a_document_that_cannot_be_published_never_stops_the_others(
    feed_server: FeedServer, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    url = feed_server.route("/feed.xml", Reply.feed(rss(item("One", guid="1"))))
    config = write_config(
        [{"url": url, "name": "Wire", "categories": ["world"]}],
        {"world": {"title": "World"}, "later": {"title": "Later"}},
    )
    output = load_config(config).hub.output_dir
    (output / "world" / "rss.xml" / "blocked").mkdir(parents=True)  # cannot be replaced
    ran = invoke(capsys, "--config", config, "run", "--once")
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    (line,) = [line for line in ran.stderr.splitlines() if line.startswith("feedhub:")]
    assert "world/rss.xml" in line
    written = site_documents(config)
    for name in ("world/atom.xml", "world/feed.json", "later/atom.xml", "all/rss.xml"):
        assert name in written, name
    assert {"index.html", "sources.opml", "_health/atom.xml"} <= set(written)
    assert [entry.title for entry in feedparser.parse(written["world/atom.xml"]).entries] == ["One"]


# --- item 9: terminal escapes in a reason phrase --------------------------------------


@SQLITE
def test_terminal_escapes_in_a_reason_phrase_reach_no_terminal_log_or_page(
    hostile_server: HostileServer, write_config: ConfigWriter
) -> None:
    hostile_server.routes["/escapes"] = lambda exchange: exchange.head(
        "500 \x1b]0;pwned\x07\x00\x1b[2J\u009b31m Oops", Content_Length="0"
    )
    hostile_server.attacking = True
    config = write_config([{"url": hostile_server.url("/escapes"), "name": "Escapes"}])
    ran = run_feedhub("--config", config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    assert "Escapes" in ran.stderr and "HTTP 500" in ran.stderr
    assert not TERMINAL_CONTROLS.search(ran.stderr), ran.stderr
    status = run_feedhub("--config", config, "status")
    assert "HTTP 500" in status.stdout
    assert not TERMINAL_CONTROLS.search(status.stdout + status.stderr), status.stdout
    page = (load_config(config).hub.output_dir / "index.html").read_text()
    assert "HTTP 500" in page
    assert not TERMINAL_CONTROLS.search(page)
    assert "pwned" not in page  # the server's words are detail: status and the log have them


# --- items 6 and 7: local paths and the internal network ------------------------------


@SQLITE
def test_a_local_sources_path_is_never_published(
    tmp_path: Path, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "private-feeds"
    folder.mkdir()
    (folder / "not-a-feed.xml").write_text("<html><body>a page</body></html>")
    relative = rss(
        item("Relative", guid="r", link="story.html", description='<a href="more.html">more</a>')
    )
    (folder / "relative.xml").write_bytes(relative.replace(b"https://news.example/", b""))
    config = write_config(
        [
            {"url": str(folder / "missing.xml"), "name": "Missing", "categories": ["world"]},
            {"url": str(folder / "not-a-feed.xml"), "name": "Not a feed"},
            {"url": str(folder / "relative.xml"), "name": "Relative", "categories": ["world"]},
        ],
        {"world": {"title": "World"}},
    )
    assert invoke(capsys, "--config", config, "run", "--once").returncode == 0
    written = site_documents(config)
    assert {"index.html", "_health/atom.xml", "world/atom.xml"} <= set(written)
    for name, body in written.items():
        text = body.decode("utf-8")
        assert "private-feeds" not in text and "file:" not in text, (name, text)
    status = invoke(capsys, "--config", config, "status")
    assert "private-feeds" in status.stdout  # the operator still sees where


@SQLITE
def test_published_problems_name_the_class_of_failure_not_the_network(
    hostile_server: HostileServer, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    # Allowed on its own host, the source redirects to another one on the internal network.
    hostile_server.attacking = True
    source = {"url": hostile_server.url("/redirect-private"), "allow_private_networks": True}
    config = write_config([source], fetch={"allow_private_networks": False})
    assert invoke(capsys, "--config", config, "run", "--once").returncode == 0
    output = load_config(config).hub.output_dir
    for name in ("index.html", "_health/atom.xml"):
        text = (output / name).read_text()
        assert "refused: not a public address" in text, name
        assert "127.0.0.2" not in text, (name, text)
    status = invoke(capsys, "--config", config, "status")
    assert "127.0.0.2" in status.stdout  # the detail stays with the operator


# --- item 13: smaller findings -----------------------------------------------------------


def test_a_category_slug_with_a_trailing_newline_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text('[categories."news\\n"]\ntitle = "News"\n')
    checked = invoke(capsys, "--config", config, "check")
    assert checked.returncode == 2
    assert "slug" in checked.stderr


@SQLITE
def test_a_title_shown_literally_as_markup_reads_the_same_in_every_rss_reader(
    tmp_path: Path, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    title = "<script>alert(1)</script> & <b>AT&T</b> &copy 2025"
    (tmp_path / "feed.xml").write_bytes(rss(item(title, guid="s")))
    config = write_config([{"url": str(tmp_path / "feed.xml"), "name": "Literal"}])
    assert invoke(capsys, "--config", config, "run", "--once").returncode == 0
    body = (load_config(config).hub.output_dir / "all" / "rss.xml").read_bytes()
    (shown,) = etree.fromstring(body).iterfind("channel/item/title")
    text = shown.text or ""
    # A reader that takes RSS titles as HTML finds no tag and no character reference in it...
    assert not re.search(r"<[A-Za-z/!?]", text) and html.unescape(text) == text, text
    # ...and one that takes them as text shows the same characters, joiners aside.
    assert text.replace("\u2060", "") == title


@SQLITE
def test_a_summarys_relative_urls_resolve_against_its_own_base(
    tmp_path: Path, write_config: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "feed.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://site.example/">'
        "<title>Bases</title><id>urn:b</id><updated>2025-07-01T00:00:00Z</updated>"
        "<entry><title>B</title><id>urn:b:1</id><updated>2025-07-01T00:00:00Z</updated>"
        '<link href="https://site.example/1"/>'
        '<summary type="html" xml:base="https://summary.example/s/">'
        "&lt;a href=&quot;one.html&quot;&gt;one&lt;/a&gt;</summary>"
        '<content type="html" xml:base="https://content.example/c/">'
        "&lt;a href=&quot;two.html&quot;&gt;two&lt;/a&gt;</content>"
        "</entry></feed>"
    )
    config = write_config([{"url": str(tmp_path / "feed.xml"), "name": "Bases"}])
    assert invoke(capsys, "--config", config, "run", "--once").returncode == 0
    body = (load_config(config).hub.output_dir / "all" / "atom.xml").read_bytes()
    (entry,) = feedparser.parse(body).entries
    assert 'href="https://summary.example/s/one.html"' in entry.summary
    assert 'href="https://content.example/c/two.html"' in entry.content[0].value


def test_feeds_a_page_declares_are_listed_without_terminal_escapes(
    feed_server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = feed_server.route(
        "/",
        Reply.feed(
            b"<html><head>"
            b'<link rel="alternate" type="application/rss+xml" title="One&#27;[2J" href="/1&#27;">'
            b'<link rel="alternate" type="application/rss+xml" title="Two\x1b]0;x\x07" href="/2">'
            b"</head></html>",
            "text/html",
        ),
    )
    config = tmp_path / "feedhub.toml"
    config.write_text("[fetch]\nallow_private_networks = true\n")
    listed = invoke(capsys, "--config", config, "sources", "add", page)
    assert listed.returncode == 2
    assert "One" in listed.stdout and "Two" in listed.stdout
    assert not TERMINAL_CONTROLS.search(listed.stdout + listed.stderr), listed.stdout


def test_an_opml_files_titles_and_urls_are_cleaned_where_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feedhub.toml"
    config.write_text('[hub]\ntitle = "hub"\n')
    opml = tmp_path / "list.opml"
    opml.write_text(
        '<?xml version="1.0" encoding="utf-8"?><opml version="2.0"><head/><body>'
        '<outline text="World\u009b31m">'
        '<outline text="Wire\u009b2J" xmlUrl="https://wire.example/feed.xml"/>'
        '<outline text="Gopher" xmlUrl="gopher://x.example/\u009b2J"/>'
        "</outline></body></opml>",
        encoding="utf-8",
    )
    imported = invoke(capsys, "--config", config, "opml", "import", opml)
    assert imported.returncode == 0, imported.stderr
    assert not TERMINAL_CONTROLS.search(imported.stdout + imported.stderr), imported.stdout
    settings = load_config(config)
    assert [source.name for source in settings.sources] == ["Wire2J"]
    assert [category.title for category in settings.categories.values()] == ["World31m"]
