"""The published site as the store keeps it: what `feedhub serve` reads on a shared store.

Every published document is written twice, to `output_dir` and to the store's
`documents` table (see `feedhub.publish.publisher`). A server on a machine of its own
cannot see the workers' output folders, so with PostgreSQL the site is served
from the store; with SQLite (one machine) it is served from the files, as
before.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.core.site import Document, document_file
from feedhub.store import dialects
from feedhub.store.schema import documents
from feedhub.store.websub import topic_changed


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A published document as the store keeps it, for `feedhub serve` on any machine."""

    path: str  # relative to the site root, like "world/atom.xml"
    body: bytes
    content_type: str
    etag: str  # strong and quoted, a hash of `body`
    updated: datetime  # when `body` last changed, by the database's clock


def save_document(
    connection: Connection, path: str, body: bytes, content_type: str, etag: str
) -> bool:
    # Last-Modified comes from the database's clock, one for every machine, as a file's
    # mtime comes from its file system's; an unchanged body keeps it.
    upsert = dialects.insert(connection, documents).values(
        path=path,
        body=body,
        content_type=content_type,
        etag=etag,
        updated=sa.func.current_timestamp(),
    )
    changed = sa.or_(
        documents.c.etag != upsert.excluded.etag,
        documents.c.content_type != upsert.excluded.content_type,
    )
    replace = {name: upsert.excluded[name] for name in ("body", "content_type", "etag", "updated")}
    stored = upsert.on_conflict_do_update(
        index_elements=[documents.c.path], set_=replace, where=changed
    ).returning(documents.c.path)
    saved = connection.execute(stored).first() is not None
    if saved:
        topic_changed(connection, path)  # its WebSub subscribers are owed the new document
    return saved


def document(connection: Connection, path: str) -> StoredDocument | None:
    """The published document at `path` (relative to the site root), if there is one."""
    row = connection.execute(sa.select(documents).where(documents.c.path == path)).one_or_none()
    return None if row is None else StoredDocument(**row._mapping)


class StoredDocuments:
    """Documents read from the store's `documents` table."""

    def __init__(self, reading: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._reading = reading  # the store's reading transactions

    def get(self, path: str) -> Document | None:
        relative = document_file(path)
        with self._reading() as connection:
            stored = document(connection, relative)
        if stored is None:
            return None
        return Document(
            body=stored.body,
            content_type=stored.content_type,
            etag=stored.etag,
            last_modified=stored.updated.replace(microsecond=0),
        )
