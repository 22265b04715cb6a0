"""Property-based fuzzing (hypothesis) of feed documents and of configs: nothing escapes.

Documents are built from feed-shaped pieces (RSS 2.0, Atom, RSS 1.0 or no feed
at all) filled with hostile text, then often broken (cut short, bytes
replaced, declared in another encoding). Whatever comes in, parsing either
works or raises `ParseError`, and what feedhub publishes from it is well-formed
XML and JSON. Configs are TOML-shaped values over feedhub's own keys and
random ones, and random TOML text: each either validates or gives one line
per problem (`ConfigError`), never anything else.

The number of examples per test is FEEDHUB_FUZZ_EXAMPLES (default 40, about
half a minute for the whole file); see the README for a longer run.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedhub.app.hub import Hub
from feedhub.config.settings import load_config, validate_config
from feedhub.core.errors import ConfigError, ParseError
from feedhub.parse.document import parse_document
from feedhub.parse.normalize import normalize_entry
from feedhub.store.facade import Store
from tests.conftest import FakeClock

EXAMPLES = int(os.environ.get("FEEDHUB_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- feed documents ---------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "AT&T",
            "<b>bold</b> & <i>",
            "<script>alert(1)</script>",
            "&lt;p&gt;escaped&lt;/p&gt;",
            "&amp;amp;",
            "]]>",
            "\x00\x01\x0b\ufffe",
            "&nbsp;&unknown;&#0;&#xD800;&#99999999;",
            "javascript:alert(1)",
            "x" * 3000,
        ]
    ),
)
maybe_text = st.one_of(st.none(), hostile_text)
link = st.one_of(
    st.none(),
    hostile_text,
    st.sampled_from(["http://example.org/a", "/relative", "//host/x", "mailto:a@b", "file:///etc"]),
)
date = st.one_of(
    st.none(),
    hostile_text,
    st.sampled_from(["Fri, 04 Jul 2025 10:00:00 GMT", "2025-07-04T10:00:00Z", "9999-99-99"]),
)


def element(name: str, value: str | None, *, raw: bool) -> str:
    if value is None:
        return ""
    return f"<{name}>{value if raw else escape(value)}</{name}>"


@st.composite
def entries(draw: st.DrawFn, kind: str) -> str:
    raw = draw(st.booleans())  # unescaped text: often not well formed
    fields = [
        ("title", draw(maybe_text)),
        ("link", draw(link)),
        ("guid" if kind != "atom" else "id", draw(maybe_text)),
        ("description" if kind != "atom" else "summary", draw(maybe_text)),
        ("pubDate" if kind != "atom" else "updated", draw(date)),
        ("category", draw(maybe_text)),
        ("author", draw(maybe_text)),
    ]
    if kind == "atom":
        fields.append(("content", draw(maybe_text)))
    body = "".join(element(name, value, raw=raw) for name, value in fields)
    enclosure = draw(st.one_of(st.none(), link))
    if enclosure is not None:
        body += f'<enclosure url="{escape(enclosure, {chr(34): "&quot;"})}" length="x"/>'
    tag = "entry" if kind == "atom" else "item"
    return f"<{tag}>{body}</{tag}>"


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["rss", "atom", "rdf", "none"]))
    items = "".join(draw(st.lists(entries(kind), max_size=4)))
    title = escape(draw(hostile_text))
    text = {
        "rss": f'<rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>',
        "atom": f'<feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title>{items}</feed>',
        "rdf": (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns="http://purl.org/rss/1.0/"><channel><title>{title}</title></channel>'
            f"{items}</rdf:RDF>"
        ),
        "none": draw(st.text(max_size=200)),
    }[kind]
    encoding = draw(st.sampled_from(["utf-8", "iso-8859-1", "utf-16", "windows-1252", "bogus"]))
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    try:
        body = (declaration + text).encode("utf-8" if encoding == "bogus" else encoding)
    except UnicodeEncodeError:
        body = (declaration + text).encode("utf-8")
    return draw(broken(body))


@st.composite
def broken(draw: st.DrawFn, body: bytes) -> bytes:
    """`body`, or `body` cut short, or with some bytes replaced."""
    how = draw(st.sampled_from(["whole", "whole", "cut", "bytes"]))
    if how == "cut" and body:
        return body[: draw(st.integers(0, len(body) - 1))]
    if how == "bytes" and body:
        changed = bytearray(body)
        for _ in range(draw(st.integers(1, 8))):
            changed[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        return bytes(changed)
    return body


content_types = st.sampled_from(
    [None, "application/rss+xml", "text/xml; charset=iso-8859-1", "text/html", "application/json"]
)


@FUZZ
@given(body=documents(), content_type=content_types)
def test_any_document_parses_or_is_refused_as_no_feed(
    body: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    try:
        document = parse_document(body, "http://example.org/feed", headers)
    except ParseError:
        return
    for entry in document.entries:
        normalize_entry(entry)


@pytest.fixture(scope="module")
def file_source_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, Path]]:
    """A hub on a real SQLite store whose one source is a local file the examples rewrite."""
    folder = tmp_path_factory.mktemp("fuzz")
    feed = folder / "feed.xml"
    feed.write_bytes(b"")
    config = folder / "feedhub.toml"
    config.write_text(
        tomlkit.dumps(
            {
                "hub": {"base_url": "http://feeds.test/", "database": "sqlite:///fuzz.sqlite"},
                "categories": {"news": {"title": "News & <Stuff>", "match": ["news"]}},
                "sources": [{"url": "feed.xml", "name": "Fuzzed", "categories": ["news"]}],
            }
        )
    )
    loaded = load_config(config)
    hub = Hub(loaded, Store.open(loaded.hub.database), FakeClock())
    hub.sync_sources()
    yield hub, feed
    hub.close()
    hub.store.close()


@settings(FUZZ, max_examples=max(EXAMPLES // 2, 10))
@given(body=documents())
def test_any_document_goes_through_store_and_publish(
    file_source_hub: tuple[Hub, Path], body: bytes
) -> None:
    hub, feed = file_source_hub
    feed.write_bytes(body)
    assert isinstance(hub.clock, FakeClock)
    hub.clock.advance(timedelta(hours=1))
    hub.run_once(everything=True)
    output = hub.settings.hub.output_dir
    for path in output.rglob("*"):
        if path.suffix == ".xml":
            etree.fromstring(path.read_bytes())
        elif path.suffix == ".json":
            json.loads(path.read_bytes())


# --- configs ----------------------------------------------------------------

KEYS = {
    "hub": ["title", "base_url", "output_dir", "database", "max_entries", "keep_days"],
    "fetch": ["timeout", "deadline", "concurrency", "per_host", "max_body_bytes", "max_redirects"],
    "schedule": ["interval", "min_interval", "max_interval", "tick", "lease"],
    "serve": ["enabled", "host", "port"],
}
SOURCE_KEYS = ["url", "name", "categories", "interval", "allow_private_networks"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["15m", "0s", "-1h", "1d", "https://example.org/f", "sqlite:///x", "world"]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.one_of(st.sampled_from(keys), st.text(max_size=10)), values, max_size=len(keys)
    )


configs = st.fixed_dictionaries(
    {},
    optional={
        **{section: st.one_of(table(keys), values) for section, keys in KEYS.items()},
        "categories": st.one_of(
            st.dictionaries(st.text(max_size=10), st.one_of(table(["title", "match"]), values)),
            values,
        ),
        "sources": st.one_of(st.lists(st.one_of(table(SOURCE_KEYS), values), max_size=4), values),
        "extra": values,
    },
)


def assert_one_line_each(error: ConfigError) -> None:
    assert error.problems
    assert all(problem and "\n" not in problem for problem in error.problems), error.problems


@FUZZ
@given(raw=configs)
def test_any_config_validates_or_gives_one_line_per_problem(raw: dict[str, Any]) -> None:
    try:
        validate_config(raw, Path("/fuzz/feedhub.toml"))
    except ConfigError as error:
        assert_one_line_each(error)


toml_lines = st.lists(
    st.one_of(
        st.sampled_from(
            ["[hub]", "[fetch]", "[schedule]", "[[sources]]", "[categories.world]", "[hub", "]]"]
        ),
        st.builds(
            "{} = {}".format,
            st.sampled_from([*itertools.chain(*KEYS.values()), *SOURCE_KEYS, "x"]),
            st.sampled_from(
                ['"15m"', "5", "-1", "true", "[1, 2", '"http://x"', "{a = 1}", "1e999"]
            ),
        ),
        st.text(max_size=20),
    ),
    max_size=12,
)


@FUZZ
@given(lines=toml_lines)
def test_any_config_file_loads_or_gives_one_line_per_problem(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    path = tmp_path_factory.mktemp("config") / "feedhub.toml"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path)
    except ConfigError as error:
        assert_one_line_each(error)
