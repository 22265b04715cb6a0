"""`to_utf8` hands on a valid UTF-8 body untouched unless it holds a character XML forbids,
wherever in the body it is (the scan goes a megabyte at a time)."""

from __future__ import annotations

import pytest

from feedhub.parse.encoding import _CHUNK, to_utf8

FORBIDDEN = ["\x01", "\x7f", "\ufffe", "\uffff"]


@pytest.mark.parametrize("character", FORBIDDEN)
@pytest.mark.parametrize("at", [0, 100, _CHUNK - 2, _CHUNK - 1, _CHUNK, _CHUNK + 5])
def test_a_forbidden_character_anywhere_is_removed(character: str, at: int) -> None:
    text = "a" * at + character + "b" * 10
    body = f"<x>{text}</x>".encode()
    assert to_utf8(body, None) == f"<x>{'a' * at}{'b' * 10}</x>".encode()


def test_a_clean_utf8_body_is_handed_on_as_it_is() -> None:
    body = ("<x>" + "é\t\n" * _CHUNK + "</x>").encode()
    assert to_utf8(body, None) is body
