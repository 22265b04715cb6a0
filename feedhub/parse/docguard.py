"""Bound what one fetched document can cost feedparser, and what it can hand on.

feedparser gives a document to expat and, when expat refuses it, to its own
loose sgmllib parser, which expands the entities the document declares (any
declaration whose value has no `&`, see `feedparser.sanitizer.replace_doctype`):
a 100 kB entity referenced 20,000 times takes gigabytes there, even though
expat (>= 2.4.1) stopped the same document. So before feedparser sees a
document:

- it is UTF-8 already (`feedhub.parse.encoding.to_utf8`), whatever it was served
  in (UTF-16 included), so the byte patterns below are what both parsers see;
- a document that declares an entity which is more than one character (the
  billion laughs, the quadratic blowup), external (a local file, a URL) or a
  parameter entity is refused, as expat would read its prolog and as the loose
  parser would take it; `<!ENTITY nbsp "&#160;">` is fine;
- the document is cut before its (`max_entries` + 1)-th entry, so feedparser
  never builds more entries than are kept.

After parsing, every text field is capped at `max_field_bytes` (UTF-8) and
every list in an entry at `MAX_LIST_ITEMS`. `check_expat` refuses an expat
too old to bound entity expansion itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import pyexpat
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from feedhub.core.errors import FeedhubError, ParseError

MIN_EXPAT = (2, 4, 1)
MAX_LIST_ITEMS = 100  # authors, categories, enclosures of one entry

_ONE_CHARACTER = re.compile(r".|&#(?:\d+|x[0-9a-fA-F]+);", re.DOTALL)
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)(?=[\s/>])", re.IGNORECASE)
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)
_EXPAT_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")

T = TypeVar("T")


class UnsafeExpat(FeedhubError):
    """The installed expat cannot bound entity expansion."""


class HostileEntities(ParseError):
    """The document declares entities that could expand without bound or read files."""

    public = "refused: hostile XML entities"


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """How much one document may contribute (from `[fetch]` in the config)."""

    max_entries: int = 5000
    max_field_bytes: int = 256 * 1024


DEFAULT_LIMITS = DocumentLimits()


@dataclass(frozen=True, slots=True)
class Defused:
    """A document ready for feedparser."""

    body: bytes
    entries_found: int  # entry start tags seen in the whole document


def check_expat(version: str | None = None) -> None:
    """Refuse an expat (the installed one by default) older than 2.4.1: no amplification limits."""
    version = version or pyexpat.EXPAT_VERSION
    match = _EXPAT_VERSION.search(version)
    found = tuple(int(part) for part in match.groups()) if match else (0, 0, 0)
    if found < MIN_EXPAT:
        raise UnsafeExpat(
            f"the installed XML parser ({version}) is older than expat 2.4.1 and cannot "
            "bound entity expansion; upgrade libexpat (or use a newer Python build)"
        )


def defuse(utf8: bytes, max_entries: int) -> Defused:
    """`utf8` (from `feedhub.parse.encoding.to_utf8`) with at most `max_entries`; raise
    HostileEntities if it declares entities that are not single characters."""
    _refuse_hostile_entities(utf8)
    cut, found = _cut_after(utf8, max_entries)
    return Defused(cut, found)


def _refuse_hostile_entities(document: bytes) -> None:
    """Look at the entities as any XML parser, and both of feedparser's, would get them."""
    hostile = _hostile_in_prolog(document)
    if b"<!ENTITY" in document:  # else there is nothing for feedparser's loose parser to take
        # Imported here: a document without entities, or a poll that parses nothing,
        # never loads feedparser.
        from feedparser.sanitizer import replace_doctype

        _, for_expat, for_loose_parser = replace_doctype(document)
        hostile += [
            name for name, value in for_loose_parser.items() if not _ONE_CHARACTER.fullmatch(value)
        ]
        hostile += _hostile_in_prolog(for_expat)
    if hostile:
        names = ", ".join(sorted(set(hostile))[:5])
        raise HostileEntities(
            f"refused: the document declares XML entities ({names}) that could expand "
            "without bound or read local files (billion laughs, external entities); "
            "a feed needs none"
        )


class _RootReached(Exception):
    pass


def _hostile_in_prolog(document: bytes) -> list[str]:
    """Entities expat declares while reading the prolog: parameter, external, or long ones."""
    hostile: list[str] = []

    def declared(name: str, is_parameter: int, value: str | None, *_: object) -> None:
        if is_parameter or value is None or len(value) > 1:
            hostile.append(name)

    def root(*_: object) -> None:
        raise _RootReached  # the prolog is over; nothing after it declares entities

    parser = pyexpat.ParserCreate()
    parser.EntityDeclHandler = declared
    parser.StartElementHandler = root
    # After an error expat reads no further declarations either.
    with contextlib.suppress(_RootReached, pyexpat.ExpatError):
        parser.Parse(document, True)
    return hostile


def _cut_after(body: bytes, max_entries: int) -> tuple[bytes, int]:
    """`body` without the entries after the first `max_entries`, and how many it had."""
    cut_at = None
    found = 0
    for found, match in enumerate(_ENTRY_START.finditer(body), start=1):
        if found == max_entries + 1:
            cut_at = match.start()
    if cut_at is None:
        return body, found
    last_end = None
    for last_end in _ENTRY_END.finditer(body, cut_at):  # noqa: B007
        pass
    # Keep what closes the document after the last entry (`</channel></rss>`, `</feed>`), so
    # a well-formed document stays well formed; unless entries start there too.
    tail = body[last_end.end() :] if last_end else b""
    if _ENTRY_START.search(tail):
        tail = b""
    return body[:cut_at] + tail, found


def last_entry_cut_off(body: bytes) -> bool:
    """Whether the document ends inside an entry: its last entry start tag is never closed."""
    last_start = None
    for last_start in _ENTRY_START.finditer(body):  # noqa: B007
        pass
    if last_start is None or body[last_start.end() :].lstrip().startswith(b"/>"):
        return False
    return _ENTRY_END.search(body, last_start.end()) is None


def cap_text(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8, on a character boundary."""
    if len(text) * 4 <= max_bytes:
        return text
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def cap_fields(value: T, max_bytes: int) -> T:
    """`value` (a frozen dataclass, tuple or str) with every string capped and lists shortened.

    `value` itself when nothing needed cutting (the usual case: no copies).
    """
    capped: Any = value
    if isinstance(value, str):
        capped = cap_text(value, max_bytes)
    elif isinstance(value, tuple):
        items = tuple(cap_fields(item, max_bytes) for item in value[:MAX_LIST_ITEMS])
        if len(items) != len(value) or any(a is not b for a, b in zip(items, value, strict=False)):
            capped = items
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for name in _field_names(type(value)):
            before = getattr(value, name)
            after = cap_fields(before, max_bytes)
            if after is not before:
                changes[name] = after
        if changes:
            capped = dataclasses.replace(value, **changes)
    return capped  # type: ignore[no-any-return]


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


def limit_notes(
    defused: Defused, parsed_entries: int, capped_entries: int, limits: DocumentLimits
) -> list[str]:
    """One phrase per limit the document reached, for the source's status."""
    notes = []
    found = max(defused.entries_found, parsed_entries)
    if found > limits.max_entries:
        notes.append(
            f"only the first {limits.max_entries} of {found} entries were read "
            "(max_entries_per_document)"
        )
    if capped_entries:
        notes.append(
            f"{capped_entries} entries had fields cut to max_field_bytes ({limits.max_field_bytes})"
        )
    return notes
