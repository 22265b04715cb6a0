"""Every URL feedhub publishes is judged after it is resolved, by one policy
(`feedhub.core.urls`): http, https or mailto, no userinfo, no secrets of a source URL,
percent-encoded so it cannot leave its attribute. Content, summaries, links,
enclosures and source links, through a real hub polling a real HTTP server."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import pytest

from feedhub.config.settings import load_config
from feedhub.core.models import Enclosure, FeedEntry
from feedhub.core.urls import redact_text, redact_url
from feedhub.parse.normalize import normalize_entry, sanitize_html
from tests.conftest import ConfigWriter, open_hub, output_files, run_feedhub
from tests.httpserver import FeedServer, Reply

BASE = "https://news.example/feed.xml"
SECRET = "s3cr3tvalue"
# Attributes and JSON fields that carry URLs, in the outputs as published and in the
# HTML they embed (unescaped once more).
_URL_ATTRIBUTE = re.compile(
    r"""\b(href|src|cite|poster|url|xmlUrl|htmlUrl|srcset|feed_url|home_page_url)"""
    r"""\s*(?:=|":)\s*(?:"([^"]*)"|'([^']*)')"""
)


def entry(link: str | None, base_url: str, *enclosures: Enclosure) -> FeedEntry:
    return FeedEntry(
        *(None, link, "t", False, None, False, None, False, (), (), None, None),
        enclosures=enclosures,
        base_url=base_url,
    )


def clean(fragment: str, base: str = BASE) -> str:
    return sanitize_html(fragment, is_html=True, base_url=base) or ""


def urls_in(text: str) -> list[str]:
    """Every URL in a URL-carrying attribute or field of `text` (srcset split up)."""
    found = []
    for match in _URL_ATTRIBUTE.finditer(text):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if match.group(1) == "srcset":
            found += [candidate.split()[0] for candidate in value.split(", ") if candidate]
        else:
            found.append(value)
    return found


def assert_only_web_urls(text: str, base: str) -> None:
    """Every URL in `text`, resolved against `base` (the site's own links are relative)."""
    for url in (urljoin(base, found) for found in urls_in(text)):
        assert url.startswith(("http://", "https://", "mailto:")), url
        assert not re.match(r"https?://[^/]*@", url), url
        assert not re.search(r"[\s\"<>\\]", url), url


@pytest.mark.parametrize("scheme", ["file://host/share/", "gopher://host/", "ftp://host/dir/"])
def test_a_relative_url_is_judged_after_resolution(scheme: str) -> None:
    content = f'<div xml:base="{scheme}"><img src="p.png"><a href="doc">x</a></div>'
    assert "p.png" not in clean(content, base=scheme)
    assert "doc" not in clean(content, base=scheme)
    assert clean('<img src="p.png">', base=scheme).startswith("<img")


def test_a_srcset_with_commas_and_no_spaces_keeps_only_web_candidates() -> None:
    cleaned = clean('<img src="a.png" srcset="a.png 1x,file:///etc/passwd 2x,b.png 3x">')
    assert "file:" not in cleaned
    assert 'srcset="https://news.example/a.png 1x, https://news.example/b.png 3x"' in cleaned
    # One URL for a browser ("a.png,file:..." on news.example); its comma is encoded so
    # that no reader splits it into a file: candidate either.
    one = clean('<img srcset="a.png,file:///etc/passwd">')
    assert 'srcset="https://news.example/a.png%2Cfile:' in one


@pytest.mark.parametrize("tag", ["blockquote", "q", "del", "ins"])
@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "vbscript:msgbox", "data:text/html,x", "file:///etc/passwd"]
)
def test_cite_takes_web_urls_only(tag: str, url: str) -> None:
    cleaned = clean(f'<{tag} cite="{url}">quoted</{tag}>')
    assert "cite" not in cleaned
    assert 'cite="https://news.example/source"' in clean(f'<{tag} cite="source">q</{tag}>')


def test_an_iframe_path_is_normalized_before_the_allow_list() -> None:
    for src in (
        "https://www.youtube.com/embed/../../../evil",
        "https://www.youtube.com/embed/%2e%2e/%2E%2E/evil",
        "https://www.youtube.com/embed/..\\..\\evil",
    ):
        cleaned = clean(f'<iframe src="{src}"></iframe>')
        kept = re.findall(r'src="([^"]*)"', cleaned)
        assert all(url.startswith("https://www.youtube.com/embed/") for url in kept), src
        assert all(".." not in urlsplit(url).path.split("/") for url in kept), src
        assert "\\" not in cleaned, src
    kept = clean('<iframe src="https://www.youtube.com/embed/./abc"></iframe>')
    assert 'src="https://www.youtube.com/embed/abc"' in kept


def test_links_lose_userinfo_and_resolve_against_a_base_without_secrets() -> None:
    base = f"https://user:pw@news.example/feed.xml?token={SECRET}&page=2"
    cleaned = clean('<a href="#top">a</a> <a href="https://u:p@other.example/x">b</a>', base)
    assert "pw@" not in cleaned and "u:p@" not in cleaned and SECRET not in cleaned
    assert 'href="https://other.example/x"' in cleaned
    normalized = normalize_entry(entry("?a=1", base, Enclosure("e.mp3", 0, "")))
    assert normalized.link == "https://news.example/feed.xml?a=1"
    assert normalized.enclosures[0].url == "https://news.example/e.mp3"


def test_enclosures_have_a_media_type_and_an_encoded_web_url() -> None:
    normalized = normalize_entry(
        entry(
            None,
            BASE,
            Enclosure('https://cdn.example.org/a.mp3"onload="x', 10, 'audio/mpeg"><x'),
            Enclosure("ftp://cdn.example.org/b.mp3", 10, "audio/mpeg"),
            Enclosure("https://cdn.example.org/c d.ogg", 10, "not a type"),
            Enclosure("https://cdn.example.org/d.mp3", 10, "Audio/MPEG; charset=x"),
        )
    )
    assert [(e.url, e.type) for e in normalized.enclosures] == [
        ("https://cdn.example.org/a.mp3%22onload=%22x", "application/octet-stream"),
        ("https://cdn.example.org/c%20d.ogg", "audio/ogg"),
        ("https://cdn.example.org/d.mp3", "audio/mpeg"),
    ]


HOSTILE_ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Hostile</title><id>urn:hostile</id><updated>2025-07-03T12:00:00Z</updated>
  <link rel="alternate" href="https://u:p@site.example/home?api_key={SECRET}"/>
  <entry>
    <title>One</title><id>urn:hostile:1</id><updated>2025-07-03T11:00:00Z</updated>
    <link rel="alternate" href="#first"/>
    <link rel="enclosure" href="https://cdn.example.org/a.mp3&quot;onload=&quot;x"
      type="audio/mpeg&quot;&gt;&lt;x" length="1"/>
    <link rel="enclosure" href="gopher://cdn.example.org/b.mp3" type="audio/mpeg" length="1"/>
    <summary type="html" xml:base="gopher://host/">&lt;a href="s"&gt;s&lt;/a&gt;
      &lt;a href="rel"&gt;r&lt;/a&gt;</summary>
    <content type="html" xml:base="file://host/share/">&lt;img src="p.png"
      srcset="p.png 1x,file:///etc/passwd 2x"&gt;
      &lt;blockquote cite="javascript:alert(1)"&gt;q&lt;/blockquote&gt;
      &lt;q cite="data:text/html,x"&gt;q&lt;/q&gt;&lt;del cite="vbscript:x"&gt;d&lt;/del&gt;
      &lt;iframe src="https://www.youtube.com/embed/../../../evil"&gt;&lt;/iframe&gt;
      &lt;a href="ftp://host/x"&gt;f&lt;/a&gt;&lt;a href="mailto:a@b.example"&gt;m&lt;/a&gt;
    </content>
  </entry>
  <entry>
    <title>Two</title><id>urn:hostile:2</id><updated>2025-07-03T10:00:00Z</updated>
    <content type="html">&lt;a href="other"&gt;relative to the feed&lt;/a&gt;</content>
  </entry>
</feed>
""".encode()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_published_file_carries_a_url_but_http_https_mailto_or_a_secret(
    feed_server: FeedServer, write_config: ConfigWriter, tmp_path: Path
) -> None:
    served = feed_server.route("/feed.xml", Reply.feed(HOSTILE_ATOM, "application/atom+xml"))
    url = served.replace("http://", "http://reader:hunter2@") + f"?token={SECRET}&x=1"
    categories = {"news": {"title": "News"}}
    hub = open_hub(
        write_config([{"url": url, "name": "Hostile", "categories": ["news"]}], categories)
    )
    hub.run_once()
    files = output_files(hub.settings)
    assert "all/atom.xml" in files and "sources.opml" in files and "index.html" in files
    for name, body in files.items():
        text = body.decode()
        for layer in (text, html.unescape(text), html.unescape(html.unescape(text))):
            assert SECRET not in layer and "hunter2" not in layer and "//reader:" not in layer, name
            for scheme in ("file:", "gopher:", "ftp:", "javascript:", "vbscript:", "data:"):
                assert scheme not in layer, (name, scheme)
            assert "evil" not in layer, name
            assert_only_web_urls(layer, hub.settings.hub.base_url)
    assert feedparser.parse(files["all/atom.xml"]).bozo == 0
    feed = json.loads(files["all/feed.json"])
    assert {item["_source"]["feed_url"] for item in feed["items"]} == {
        served + "?token=REDACTED&x=1"
    }
    links = {item["url"] for item in feed["items"] if "url" in item}
    assert links == {served + "?token=REDACTED&x=1#first"}
    contents = " ".join(item.get("content_html", "") for item in feed["items"])
    assert f'href="{served.removesuffix("feed.xml")}other"' in contents  # without the secrets


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failing_source_with_secrets_is_redacted_in_logs_status_and_health(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    feed_server.route("/gone.xml", Reply(404, b"no"))
    url = feed_server.url("/gone.xml").replace("http://", "http://reader:hunter2@")
    config = write_config([{"url": f"{url}?api_key={SECRET}&sig={SECRET}", "name": "Secret"}])
    outputs = []
    for _ in range(3):  # enough failures for a health event
        outputs.append(run_feedhub("--config", config, "-v", "run", "--once", "--all"))
    outputs += [
        run_feedhub("--config", config, "status"),
        run_feedhub("--config", config, "status", "--json"),
    ]
    assert "gone.xml?api_key=REDACTED&sig=REDACTED" in outputs[-2].stdout
    published = output_files(load_config(config))
    assert b"Secret is failing" in published["_health/atom.xml"]
    assert b"HTTP 404" in published["index.html"]  # the last problem is shown, redacted
    assert "404" in outputs[0].stderr  # urllib3's request line is logged (with -v), redacted
    texts = [run.stdout + run.stderr for run in outputs] + [b.decode() for b in published.values()]
    for text in texts:
        assert SECRET not in text and "hunter2" not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h.example/f?token=1&page=2", "https://h.example/f?token=REDACTED&page=2"),
        (
            "https://h.example/f?api_key=1&apiKey=2",
            "https://h.example/f?api_key=REDACTED&apiKey=REDACTED",
        ),
        (
            "https://h.example/f?X-Amz-Signature=1&sig=2",
            "https://h.example/f?X-Amz-Signature=REDACTED&sig=REDACTED",
        ),
        (
            "https://h.example/f?access_token=1&password=2",
            "https://h.example/f?access_token=REDACTED&password=REDACTED",
        ),
        ("https://h.example/f?keyword=oil&monkey=1", "https://h.example/f?keyword=oil&monkey=1"),
    ],
)
def test_secret_looking_query_values_and_userinfo_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_text(f"fetching {url}: refused") == f"fetching {shown}: refused"
    path = url.split("/", 3)[3]
    assert (
        redact_text(f'"GET /{path} HTTP/1.1" 200')
        == f'"GET /{shown.split("/", 3)[3]} HTTP/1.1" 200'
    )
