"""Text that may cross any border: XML-safe characters, one-line messages, counts, keys.

Every string from outside (documents, HTTP headers and reason phrases, stored values
on their way out) goes through `strip_forbidden` where it enters; the config and the
command line refuse what `control_character` finds instead of silently changing it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
from collections.abc import Callable
from typing import Any, TypeVar

import nh3

# What XML 1.0 cannot carry (and lxml refuses): C0 controls but tab, newline and
# carriage return, the non-characters U+FFFE/U+FFFF and lone surrogates; and what a
# terminal acts on besides (DEL and the C1 controls: CSI, OSC...), which no text needs.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
# What a value written by a person (a config value, a command-line name) may not hold.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
T = TypeVar("T")
MAX_KEY_CHARS = 1000
MAX_MESSAGE_CHARS = 300


def strip_forbidden(text: str) -> str:
    """`text` without the characters XML cannot carry nor a terminal should receive."""
    return _FORBIDDEN.sub("", text)


def map_strings(value: T, change: Callable[[str], str], max_items: int | None = None) -> T:
    """`value` (a frozen dataclass, tuple or str, nested) with `change` applied to every
    string in it, and every tuple cut to `max_items`; other values (enums too) as they are."""
    changed: Any
    if isinstance(value, str) and type(value) is str:  # enums (StrEnum) stay enums
        changed = change(value)
    elif isinstance(value, tuple):
        changed = tuple(map_strings(item, change, max_items) for item in value[:max_items])
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            field.name: map_strings(getattr(value, field.name), change, max_items)
            for field in dataclasses.fields(value)
        }
        changed = dataclasses.replace(value, **changes)
    else:
        changed = value
    return changed  # type: ignore[no-any-return]


def safe_strings(value: T) -> T:
    """`value` with every string in it made safe (see `map_strings`): for values stored
    before the border existed, on their way out of the store."""
    return map_strings(value, strip_forbidden)


def control_character(text: str) -> str | None:
    """The first control character in `text`, as `U+XXXX`, or None when it has none."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group(0)):04X}"


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` on one line, safe for a terminal: without control characters, every run of
    whitespace (newlines included) one space, cut at `limit`."""
    return " ".join(strip_forbidden(text).split())[:limit]


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
