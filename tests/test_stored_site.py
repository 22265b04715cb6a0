"""Published documents kept in the store, and served from it when the store is shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedhub.app.site import site_documents
from feedhub.core.site import content_type_of, strong_etag
from feedhub.serve.app import FileDocuments
from feedhub.store.documents import StoredDocuments
from tests.conftest import ConfigWriter, open_hub, output_files
from tests.httpserver import FeedServer, Reply
from tests.workload import shared_articles


@pytest.fixture
def config(feed_server: FeedServer, write_config: ConfigWriter) -> Path:
    sources = [
        {
            "url": feed_server.route(f"/{number}.xml", Reply.feed(shared_articles(number))),
            "name": f"source {number}",
            "categories": ["world"],
        }
        for number in range(3)
    ]
    return write_config(sources, {"world": {"title": "World"}})


def test_every_published_document_is_kept_in_the_store_with_its_etag(config: Path) -> None:
    hub = open_hub(config)
    hub.run_once()
    files = output_files(hub.settings)
    assert {"all/atom.xml", "world/rss.xml", "index.html"} <= set(files)
    served = StoredDocuments(hub.store.reading)
    for path, body in files.items():
        kept = hub.store.document(path)
        assert kept is not None, path
        assert kept.body == body, path
        assert kept.etag == strong_etag(body), path
        assert kept.content_type == content_type_of(path.rpartition("/")[2]), path
        document = served.get(path)
        assert document is not None
        assert (document.body, document.etag) == (body, kept.etag)
    front_page = served.get("")
    assert front_page is not None and front_page.body == files["index.html"]
    assert served.get("world/missing.xml") is None


def test_an_unchanged_document_keeps_its_last_modified(config: Path) -> None:
    hub = open_hub(config)
    hub.run_once()
    before = hub.store.document("world/atom.xml")
    hub.publish_all()
    after = hub.store.document("world/atom.xml")
    assert before is not None and after is not None
    assert after.updated == before.updated
    with hub.store.publication(write=True) as keeper:
        assert not keeper.save_document(
            "world/atom.xml", before.body, before.content_type, before.etag
        )


def test_serve_reads_the_store_when_it_is_postgresql_and_the_files_otherwise(
    config: Path, database_url: str
) -> None:
    hub = open_hub(config)
    documents = site_documents(hub.settings, hub.store)
    expected = StoredDocuments if database_url.startswith("postgresql") else FileDocuments
    assert type(documents) is expected
