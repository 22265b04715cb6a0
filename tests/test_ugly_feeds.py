"""The ugly-feed corpus: each fixture in tests/fixtures/ugly is one real-world mess.

`<case>.xml` is the document as a source serves it; `<case>.json` says why it is
ugly (`about`), the response headers it comes with, and the entries it must
normalize to (only the fields named are checked; `content_html_contains` /
`content_html_excludes` check pieces of sanitized HTML, `aliases_include` names
some of the entry's aliases).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from feedhub.core.models import EntryToStore
from feedhub.parse.document import parse_document
from feedhub.parse.encoding import to_utf8
from feedhub.parse.normalize import normalize_entry
from feedhub.rules.dedupe import within_document

FIXTURES = Path(__file__).parent / "fixtures" / "ugly"
CASES = sorted(path.stem for path in FIXTURES.glob("*.xml"))
DOCUMENT_URL = "https://news.example/feed.xml"
# Cases whose bytes feedparser must be handed re-encoded (it gets some of them right on
# its own; the transcoding must not depend on that).
ENCODING_CASES = [
    "bom-overrides-declaration",
    "control-characters",
    "declared-latin1-but-utf8",
    "declared-utf8-but-windows-1252",
    "header-disagrees-with-bytes",
    "invalid-utf8-sequences",
    "utf16-with-bom",
    "windows-1252-served-as-latin1",
]


def normalized(case: str) -> tuple[list[EntryToStore], str | None]:
    expected = json.loads((FIXTURES / f"{case}.json").read_text())
    body = (FIXTURES / f"{case}.xml").read_bytes()
    document = parse_document(body, DOCUMENT_URL, expected.get("headers", {}))
    return within_document([normalize_entry(entry) for entry in document.entries]), (
        document.warning
    )


def field_value(entry: EntryToStore, name: str) -> Any:
    value = getattr(entry, name)
    if name in ("published", "updated"):
        return value.isoformat() if value else None
    if name == "enclosures":
        return [[e.url, e.length, e.type] for e in value]
    if isinstance(value, tuple):
        return list(value)
    return value


def test_every_fixture_has_its_expectations() -> None:
    assert len(CASES) >= 15
    assert all((FIXTURES / f"{case}.json").exists() for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_fixture_normalizes_to_its_expected_entries(case: str) -> None:
    expected = json.loads((FIXTURES / f"{case}.json").read_text())
    entries, warning = normalized(case)
    assert warning is None, warning
    assert len(entries) == len(expected["entries"]), [entry.key for entry in entries]
    for entry, wanted in zip(entries, expected["entries"], strict=True):
        for name, value in wanted.items():
            if name == "content_html_contains":
                for piece in value:
                    assert piece in (entry.content_html or ""), (piece, entry.content_html)
            elif name == "content_html_excludes":
                for piece in value:
                    assert piece not in (entry.content_html or "").lower(), piece
            elif name == "aliases_include":
                assert set(value) <= set(entry.aliases), entry.aliases
            else:
                assert field_value(entry, name) == value, (entry.key, name)


@pytest.mark.parametrize("case", CASES)
def test_fixture_text_is_xml_safe_and_readable(case: str) -> None:
    """Whatever the mess, no field holds a character XML forbids or a replacement char."""
    entries, _ = normalized(case)
    for entry in entries:
        for text in (entry.title, entry.summary_html or "", entry.content_html or ""):
            assert not any(ord(c) < 32 and c not in "\t\n\r" for c in text), text
            assert "\ufffd" not in text
            assert "Ã" not in text  # UTF-8 read as Latin-1


@pytest.mark.parametrize("case", ENCODING_CASES)
def test_encoding_fixture_is_transcoded_to_readable_utf8(case: str) -> None:
    expected = json.loads((FIXTURES / f"{case}.json").read_text())
    body = (FIXTURES / f"{case}.xml").read_bytes()
    text = to_utf8(body, expected.get("headers", {}).get("content-type")).decode("utf-8")
    assert f"<title>{expected['entries'][0]['title']}</title>" in text
    declaration = text.partition("?>")[0] if text.startswith("<?xml") else ""
    assert "encoding" not in declaration or 'encoding="utf-8"' in declaration
