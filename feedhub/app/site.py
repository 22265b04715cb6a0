"""What the site's server serves, and where: the published documents and `/metrics`.

Every published document is written to `output_dir` and to the store's `documents`
table. A server on a machine of its own cannot see the workers' output folders, so
with PostgreSQL the site is served from the store; with SQLite (one machine) from
the files. `/metrics` is served with the site, on an address of its own, or not at
all, as `[serve]` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from feedhub.config.settings import Settings
from feedhub.core.site import DocumentSource
from feedhub.serve.app import FileDocuments, Metrics, make_app, start_background_server
from feedhub.store.documents import StoredDocuments
from feedhub.store.facade import Store


def site_documents(settings: Settings, store: Store) -> DocumentSource:
    """The store's documents when it is shared (PostgreSQL), else the files under output_dir."""
    if make_url(settings.hub.database).get_backend_name() == "postgresql":
        return StoredDocuments(store.reading)
    return FileDocuments(settings.hub.output_dir)


METRICS_PORT = 9108  # when only [serve] metrics_host is set


@dataclass(frozen=True, slots=True)
class MetricsPlacement:
    for_site: Metrics | None  # what the site's own server answers /metrics with
    port: int | None  # where a server of their own listens, if they have one


class _NoDocuments:
    def get(self, path: str) -> None:
        return None


@contextmanager
def metrics_placement(settings: Settings, endpoint: Metrics) -> Iterator[MetricsPlacement]:
    """Place `/metrics` as `[serve]` says; a server of its own runs for the block."""
    serve = settings.serve
    if not serve.metrics:
        yield MetricsPlacement(None, None)
        return
    if serve.metrics_host is None and serve.metrics_port is None:
        yield MetricsPlacement(endpoint, None)
        return
    host = serve.metrics_host or serve.host
    port = METRICS_PORT if serve.metrics_port is None else serve.metrics_port
    server, thread = start_background_server(make_app(_NoDocuments(), 0, endpoint), host, port)
    try:
        yield MetricsPlacement(None, server.effective_port)
    finally:
        server.close()
        thread.join(timeout=10)
