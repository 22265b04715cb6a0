"""The published site's documents: their content types, ETags, and folder -> index.html."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

_CONTENT_TYPES_BY_NAME = {
    "atom.xml": "application/atom+xml; charset=utf-8",
    "rss.xml": "application/rss+xml; charset=utf-8",
}
_CONTENT_TYPES_BY_SUFFIX = {
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Document:
    """One published document ready to be served."""

    body: bytes
    content_type: str
    etag: str  # strong and quoted, a hash of `body`
    last_modified: datetime  # timezone-aware UTC, whole seconds


class DocumentSource(Protocol):
    """Where the app finds documents; `path` is already safe and relative to the site root."""

    def get(self, path: str) -> Document | None: ...


def strong_etag(body: bytes) -> str:
    """The strong, quoted ETag of a body."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def content_type_of(name: str) -> str | None:
    """The Content-Type a published document named `name` is served with; None: not served."""
    return _CONTENT_TYPES_BY_NAME.get(name) or _CONTENT_TYPES_BY_SUFFIX.get(Path(name).suffix)


def document_file(path: str) -> str:
    """The document a site path names: a folder (or the root) means its `index.html`."""
    return path + "index.html" if path == "" or path.endswith("/") else path
