"""`/metrics`: cheap at any store size (no scan of the entries table per scrape), and
placed where `[serve]` says: on the site, on an address of its own, or nowhere."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from feedhub.app.metrics import metrics_endpoint
from feedhub.app.site import metrics_placement
from feedhub.config.settings import load_config
from tests.conftest import ConfigWriter
from tests.feedfiles import Sources, item, rss


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_scrape_reads_no_entries(tmp_path: Path, write_config: ConfigWriter) -> None:
    sources = Sources(tmp_path, write_config, 2)
    sources.poll(rss(*(item(f"t{n}", guid=f"g{n}") for n in range(30))), rss(item("x")))
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = sources.hub.store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        body, _ = metrics_endpoint(sources.hub.store)()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    by_health = {s.labels["health"]: s.value for s in families["feedhub_sources"].samples}
    assert by_health["ok"] == 2
    assert statements  # the store was read...
    assert not [sql for sql in statements if "entries" in sql.lower()]  # ...but not its entries


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_on_an_address_of_their_own_or_off(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    config = write_config([], serve={"metrics_host": "127.0.0.1", "metrics_port": 0})
    settings = load_config(config)
    with metrics_placement(settings, lambda: (b"up 1\n", "text/plain")) as placed:
        assert placed.for_site is None
        assert placed.port is not None
        assert get(placed.port, "/metrics") == (200, b"up 1\n")
        assert get(placed.port, "/index.html")[0] == 404  # only /metrics there
    off = load_config(write_config([], serve={"metrics": False}))
    with metrics_placement(off, lambda: (b"up 1\n", "text/plain")) as placed:
        assert placed.for_site is None and placed.port is None
    same = load_config(write_config([]))
    with metrics_placement(same, lambda: (b"up 1\n", "text/plain")) as placed:
        assert placed.for_site is not None and placed.port is None
