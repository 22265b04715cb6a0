"""Text that may cross any border: XML-safe characters, one-line messages, counts, keys."""

from __future__ import annotations

import hashlib
import html
import re

import nh3

# What XML 1.0 cannot carry (and lxml refuses): C0 controls but tab, newline and
# carriage return, DEL, the non-characters U+FFFE/U+FFFF and lone surrogates.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
MAX_KEY_CHARS = 1000
MAX_MESSAGE_CHARS = 300


def strip_forbidden(text: str) -> str:
    """`text` without the characters XML cannot carry."""
    return _XML_FORBIDDEN.sub("", text)


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` with every run of whitespace (newlines included) one space, cut at `limit`."""
    return " ".join(text.split())[:limit]


def error_line(error: BaseException) -> str:
    """One line saying what `error` was: its first line of text, else its type's name."""
    return one_line(str(error).split("\n")[0]) or type(error).__name__


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 entry", "2 entries": `count` with the noun it agrees with (default plural: +s)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def bounded_key(key: str) -> str:
    """`key`, or a hash of it when it is too long to be stored as a key."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def plain_text(value: str | None, *, is_html: bool) -> str:
    """Text for a title: tags removed, entities decoded once, whitespace collapsed."""
    if not value:
        return ""
    if is_html and ("<" in value or "&" in value):
        # Forbidden characters go first: nh3 cannot take lone surrogates.
        text = html.unescape(nh3.clean(strip_forbidden(value), tags=set()))
    elif is_html:
        text = value  # no tag and no entity: cleaning would give it back unchanged
    else:
        text = _ENTITY.sub(lambda found: html.unescape(found.group(0)), value)
    return _WHITESPACE.sub(" ", strip_forbidden(text)).strip()
