"""Where `feedhub serve` finds the published site: the store when it is shared, else the files.

Every published document is written to `output_dir` and to the store's `documents`
table. A server on a machine of its own cannot see the workers' output folders, so
with PostgreSQL the site is served from the store; with SQLite (one machine) from
the files.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from feedhub.config.settings import Settings
from feedhub.core.site import DocumentSource
from feedhub.serve.app import FileDocuments
from feedhub.store.documents import StoredDocuments
from feedhub.store.facade import Store


def site_documents(settings: Settings, store: Store) -> DocumentSource:
    """The store's documents when it is shared (PostgreSQL), else the files under output_dir."""
    if make_url(settings.hub.database).get_backend_name() == "postgresql":
        return StoredDocuments(store.reading)
    return FileDocuments(settings.hub.output_dir)
