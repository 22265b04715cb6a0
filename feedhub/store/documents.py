"""The published site as the store keeps it: what `feedhub serve` reads on a shared store.

Every published document is written twice, to `output_dir` and to the store's
`documents` table (see `feedhub.publish.publisher`). A server on a machine of its own
cannot see the workers' output folders, so with PostgreSQL the site is served
from the store; with SQLite (one machine) it is served from the files, as
before.
"""

from __future__ import annotations

from feedhub.core.site import Document, document_file
from feedhub.store.facade import Store


class StoredDocuments:
    """Documents read from the store's `documents` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, path: str) -> Document | None:
        relative = document_file(path)
        stored = self._store.document(relative)
        if stored is None:
            return None
        return Document(
            body=stored.body,
            content_type=stored.content_type,
            etag=stored.etag,
            last_modified=stored.updated.replace(microsecond=0),
        )
