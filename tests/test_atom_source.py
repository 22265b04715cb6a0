"""Every atom:source carries what RFC 4287 (4.2.11) and W3C's feed validator expect of it:
the source feed's id, title, self link and updated, without naming a local file's path."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from tests.conftest import ConfigWriter, FakeClock, open_hub, output_files
from tests.feedfiles import assert_valid_atom
from tests.hostile import rss, rss_items
from tests.httpserver import FeedServer, Reply

ATOM = "{http://www.w3.org/2005/Atom}"


def test_atom_source_has_id_title_self_link_and_updated(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock, tmp_path: Path
) -> None:
    url = feed_server.route("/wire.xml", Reply.feed(rss(rss_items(1, "Wire"))))
    local = tmp_path / "local-feed.xml"
    local.write_bytes(rss(rss_items(1, "Local")))
    hub = open_hub(
        write_config([{"url": url, "name": "Wire"}, {"url": str(local), "name": "Local"}]), clock
    )
    hub.run_once()
    body = output_files(hub.settings)["all/atom.xml"]
    assert_valid_atom(body)
    sources = {
        source.findtext(f"{ATOM}title"): source
        for source in etree.fromstring(body).iter(f"{ATOM}source")
    }
    wire = sources["Wire"]
    assert wire.findtext(f"{ATOM}id") == url
    assert [(link.get("rel"), link.get("href")) for link in wire.iter(f"{ATOM}link")] == [
        ("self", url),
        ("alternate", "http://example.org/"),
    ]
    assert wire.findtext(f"{ATOM}updated")
    private = sources["Local"]
    assert (private.findtext(f"{ATOM}id") or "").startswith("urn:uuid:")
    assert private.findtext(f"{ATOM}updated")
    assert str(local).encode() not in body and b"local-feed" not in body
