"""Decode a fetched feed's bytes into text whatever its charset claims, and hand on UTF-8.

feedparser has its own detection, but when a mostly-UTF-8 document holds a few
invalid bytes it decodes the whole document as Windows-1252, turning every
"é" into "Ã©". The rules here, in order:

1. A byte-order mark decides (UTF-8, UTF-16, UTF-32), whatever is declared.
2. Bytes that are valid UTF-8 are UTF-8, whatever is declared: other charsets
   almost never produce valid UTF-8 by accident.
3. Otherwise the declared charset: the XML declaration's first (written by
   whoever wrote the bytes), else the HTTP header's (often a server default).
   ISO-8859-1, Latin-1 and US-ASCII are read as Windows-1252, as browsers do,
   so curly quotes (0x93, 0x94) served under those names come out right.
4. With no usable declaration, or a declared UTF-8 the bytes break, the text is
   UTF-8 and every invalid byte is read as Windows-1252 (documents pasted
   together from several sources mix the two).

Characters XML forbids (control characters) are dropped, and the XML
declaration is rewritten to say UTF-8, so feedparser parses the result strictly.
"""

from __future__ import annotations

import codecs
import re

from feedhub.core.text import strip_forbidden

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# No byte-order mark, but a document starting "<?" in UTF-16 (XML 1.0, appendix F).
_UTF16_STARTS = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_TEXT_DECLARATION = re.compile(r"^\s*<\?xml[^>]*?\?>")
# What browsers (the WHATWG Encoding Standard) read these labels as.
_WINDOWS_1252_LABELS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii", "cp819"}
)
_FALLBACK = "feedhub-windows-1252"
_CHUNK = 1 << 20
# The control characters XML forbids, as bytes of UTF-8 (U+FFFE and U+FFFF apart).
_FORBIDDEN_CONTROLS = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")  # U+FFFE, U+FFFF


def to_utf8(body: bytes, content_type: str | None) -> bytes:
    """`body` as UTF-8 bytes with a UTF-8 XML declaration, decoded by the rules above."""
    if not _has_forbidden(body) and _is_utf8_already(body):
        return body  # nothing to change: spare copies of a large body
    text = strip_forbidden(_decode(body, content_type).removeprefix("\ufeff"))
    declaration = _TEXT_DECLARATION.match(text)
    if declaration:
        text = _utf8_declaration(declaration.group(0)) + text[declaration.end() :]
    return text.encode("utf-8")


def utf8_content_type(content_type: str | None) -> str:
    """The response's media type, now saying charset=utf-8 (what `to_utf8` produced)."""
    media_type = (content_type or "application/xml").split(";", 1)[0].strip()
    return f"{media_type or 'application/xml'}; charset=utf-8"


def _decode(body: bytes, content_type: str | None) -> str:
    for bom, charset in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(charset, errors=_FALLBACK)
    for start, charset in _UTF16_STARTS:
        if body.startswith(start):
            return body.decode(charset, errors=_FALLBACK)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for declared in (_xml_charset(body), _header_charset(content_type)):
        if python_charset := _python_charset(declared):
            return body.decode(python_charset, errors=_FALLBACK)
    return body.decode("utf-8", errors=_FALLBACK)


def _has_forbidden(body: bytes) -> bool:
    """Whether `body` holds a character XML forbids (counting bytes is a dozen times faster
    than a regular expression; a piece at a time, so a large body is not copied whole)."""
    for start in range(0, len(body), _CHUNK):
        piece = body[start : start + _CHUNK + 2]  # a noncharacter may straddle two pieces
        if len(piece.translate(None, _FORBIDDEN_CONTROLS)) != len(piece):
            return True
        if any(noncharacter in piece for noncharacter in _NONCHARACTERS):
            return True
    return False


def _is_utf8_already(body: bytes) -> bool:
    """Valid UTF-8 without a byte-order mark, declared as UTF-8 or not declared at all."""
    if body.startswith(tuple(bom for bom, _ in _BOMS + _UTF16_STARTS)):
        return False
    declared = _xml_charset(body)
    if declared is not None and _python_charset(declared) != "utf-8":
        return False
    # Checked piece by piece, so a large body is not copied into one big string.
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    try:
        for start in range(0, len(body), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _xml_charset(body: bytes) -> str | None:
    declaration = _XML_DECLARATION.match(body[:1024])
    if not declaration:
        return None
    found = _DECLARED_ENCODING.search(declaration.group(0))
    return found.group(1).decode("ascii") if found else None


def _header_charset(content_type: str | None) -> str | None:
    found = _HEADER_CHARSET.search(content_type or "")
    return found.group(1) if found else None


def _python_charset(label: str | None) -> str | None:
    """The Python codec for a declared charset label, None when Python has none."""
    if not label:
        return None
    label = label.strip().lower()
    if label in _WINDOWS_1252_LABELS:
        return "windows-1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A declaration of UTF-16/32 without a byte-order mark is not believed: the bytes
    # were not UTF-16, or they would have carried one (or failed strict UTF-8 above).
    if name.startswith(("utf-16", "utf-32")):
        return None
    return name


def _utf8_declaration(declaration: str) -> str:
    rewritten = re.sub(r"""encoding\s*=\s*["'][^"']*["']""", 'encoding="utf-8"', declaration)
    if rewritten == declaration and "encoding" not in declaration:
        rewritten = declaration.replace("?>", ' encoding="utf-8"?>', 1)
    return rewritten


def _windows_1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Read each byte a codec rejects as Windows-1252 (Latin-1 for its five unused bytes)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    byte = error.object[error.start : error.start + 1]
    try:
        character = byte.decode("windows-1252")
    except UnicodeDecodeError:
        character = byte.decode("latin-1")
    return character, error.start + 1


codecs.register_error(_FALLBACK, _windows_1252_fallback)
