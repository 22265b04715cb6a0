"""Hostile documents: XML entity attacks, entry and field caps, invalid bytes, unsafe expat."""

from __future__ import annotations

import json
import pyexpat
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from feedhub.app.cli import main
from feedhub.core.errors import ParseError
from feedhub.parse.docguard import DocumentLimits, HostileEntities, UnsafeExpat, check_expat
from feedhub.parse.document import parse_document
from tests.conftest import ROOT
from tests.hostile import (
    SECRET,
    billion_laughs,
    external_dtd,
    external_entity,
    parameter_entity,
    quadratic_blowup,
    rss,
    rss_items,
)

RSS = "application/rss+xml"


PARSE_IN_A_CHILD = textwrap.dedent(
    """
    import json, sys
    from feedhub.core.errors import ParseError
    from feedhub.parse.document import parse_document
    headers = {"content-type": "application/rss+xml"}
    try:
        document = parse_document(sys.stdin.buffer.read(), "http://e.org/feed", headers)
    except ParseError as error:
        print(json.dumps({"error": str(error)}))
    else:
        titles = [entry.title for entry in document.entries]
        print(json.dumps({"titles": titles, "text": repr(document)}))
    """
)


def parse_bounded(body: bytes) -> dict[str, object]:
    """Parse in a child process whose address space is capped at 1 GB, so a blowup cannot
    take the test run down with it: it fails with MemoryError (or the timeout) instead."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    child = subprocess.run(
        [sys.executable, "-c", PARSE_IN_A_CHILD],
        input=body,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        preexec_fn=cap_memory,
        check=False,
    )
    assert child.returncode == 0, child.stderr.decode()[-2000:]
    result: dict[str, object] = json.loads(child.stdout)
    return result


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.mark.parametrize("attack", [billion_laughs, quadratic_blowup])
def test_entity_expansion_is_refused_in_bounded_memory(attack: Callable[[], bytes]) -> None:
    result = parse_bounded(attack())
    assert "refused: the document declares XML entities" in str(result.get("error"))


@pytest.mark.parametrize("attack", [external_entity, parameter_entity])
def test_external_entities_are_refused(attack: Callable[[Path], bytes], secret_file: Path) -> None:
    result = parse_bounded(attack(secret_file))
    assert "refused: the document declares XML entities" in str(result.get("error"))
    assert SECRET not in json.dumps(result)


def test_an_external_dtd_is_never_read(secret_file: Path) -> None:
    result = parse_bounded(external_dtd(secret_file))
    assert result["titles"] == ["x"]
    assert SECRET not in json.dumps(result)


def test_entity_declarations_hidden_behind_a_comment_are_found() -> None:
    # feedparser's DOCTYPE clean-up stops at the "<x" in the comment; expat reads on.
    doctype = '<!-- <x --><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">]>'
    with pytest.raises(HostileEntities):
        parse_document(rss("", doctype), "http://e.org/feed", {"content-type": RSS})


def test_an_entity_standing_for_one_character_is_kept() -> None:
    doctype = '<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n]>\n'
    body = rss("<item><title>a&nbsp;b</title><link>http://e.org/1</link></item>", doctype)
    document = parse_document(body, "http://e.org/feed", {"content-type": RSS})
    assert [entry.title for entry in document.entries] == ["a\xa0b"]
    assert document.warning is None


def test_entity_declarations_are_found_in_utf16_documents_too() -> None:
    text = quadratic_blowup().decode().replace('version="1.0"', 'version="1.0" encoding="utf-16"')
    with pytest.raises(HostileEntities):
        parse_document(text.encode("utf-16"), "http://e.org/feed", {})


def test_entries_after_the_cap_are_ignored_with_a_note() -> None:
    limits = DocumentLimits(max_entries=10, max_field_bytes=1024)
    document = parse_document(
        rss(rss_items(25)), "http://e.org/feed", {"content-type": RSS}, limits
    )
    assert [entry.title for entry in document.entries] == [f"Entry {n}" for n in range(10)]
    # The cut document stays well formed: only the cap is reported.
    assert document.warning == (
        "only the first 10 of 25 entries were read (max_entries_per_document)"
    )


def test_entries_after_the_cap_are_ignored_in_atom_and_loose_documents() -> None:
    limits = DocumentLimits(max_entries=3, max_field_bytes=1024)
    entries = "".join(
        f"<entry><title>E{n}</title><id>urn:e:{n}</id><link href='http://e.org/{n}'/></entry>"
        for n in range(8)
    )
    atom = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{entries}</feed>'
    loose = f"<rss><channel><title>t & co</title>{rss_items(8)}"  # not well formed, never closed
    for body in (atom, loose):
        document = parse_document(body.encode(), "http://e.org/feed", {}, limits)
        assert len(document.entries) == 3
        assert "only the first 3 of 8 entries" in (document.warning or "")


def test_long_fields_are_cut_to_the_cap() -> None:
    limits = DocumentLimits(max_entries=10, max_field_bytes=2048)
    body = rss(f"<item><title>{'é' * 5_000_000}</title><link>http://e.org/1</link></item>")
    document = parse_document(body, "http://e.org/feed", {"content-type": RSS}, limits)
    (entry,) = document.entries
    assert entry.title == "é" * 1024
    assert document.warning == "1 entries had fields cut to max_field_bytes (2048)"


def test_lists_in_an_entry_are_capped() -> None:
    categories = "".join(f"<category>c{n}</category>" for n in range(500))
    body = rss(f"<item><title>t</title>{categories}<link>http://e.org/1</link></item>")
    (entry,) = parse_document(body, "http://e.org/feed", {"content-type": RSS}).entries
    assert len(entry.categories) == 100


def test_random_bytes_are_no_feed() -> None:
    garbage = bytes(range(256)) * 64
    with pytest.raises(ParseError, match="not an RSS, Atom or JSON feed"):
        parse_document(garbage, "http://e.org/feed", {"content-type": RSS})


def test_a_document_feedparser_chokes_on_is_a_parse_error() -> None:
    # Found by tests/test_fuzz.py: a character reference to a surrogate in a loose document.
    body = rss("<item><author>&nbsp;&unknown;&#0;&#xD800;&#99999999;</author></item>")
    with pytest.raises(ParseError, match=r"the feed parser failed on it \(UnicodeEncodeError\)"):
        parse_document(body, "http://e.org/feed", {"content-type": RSS})


def test_invalid_bytes_inside_a_feed_keep_the_rest() -> None:
    body = rss(rss_items(3)).replace(b"Entry 1", b"Entry \xff\xfe\x00\x01 1")
    document = parse_document(body, "http://e.org/feed", {"content-type": RSS})
    assert len(document.entries) == 3


@pytest.mark.parametrize("version", ["expat_2.4.0", "expat_2.2.10", "expat_1.95.8", "unknown"])
def test_an_expat_without_amplification_limits_is_refused(version: str) -> None:
    with pytest.raises(UnsafeExpat, match=r"older than expat 2\.4\.1"):
        check_expat(version)


@pytest.mark.parametrize("version", ["expat_2.4.1", "expat_2.5.0", "expat_2.10.0"])
def test_a_safe_expat_is_accepted(version: str) -> None:
    check_expat(version)


def test_the_command_line_refuses_to_start_on_an_unsafe_expat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(pyexpat, "EXPAT_VERSION", "expat_2.2.10")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(tmp_path / "feedhub.toml"), "check"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "expat_2.2.10" in error and "upgrade libexpat" in error
