"""A hub polled once from the sample feeds and a hostile one, served over real sockets.

Shared by the tests of the published outputs and of the front page: the server
is the app `feedhub serve` builds (`site_app` with `metrics_endpoint`), on
127.0.0.1 and a free port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from feedhub.app.hub import Hub
from feedhub.app.metrics import metrics_endpoint
from feedhub.serve.app import site_app, start_background_server
from tests.conftest import ConfigWriter, FakeClock, open_hub
from tests.httpserver import FeedServer, Reply
from tests.test_pipeline import CATEGORIES, serve_samples

SCRIPT_TITLE = "<script>document.title='pwned'</script> & the <b>bold</b> claim"
HOSTILE_SOURCE = "Hostile <i>Wire</i>"
# A plain-text title full of markup, a site link that is not http(s), an enclosure.
HOSTILE_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Hostile Wire</title>
  <id>urn:test:hostile</id>
  <updated>2025-07-03T12:00:00Z</updated>
  <link rel="alternate" href="javascript:alert('site')"/>
  <entry>
    <title type="text">&lt;script&gt;document.title='pwned'&lt;/script&gt;
      &amp; the &lt;b&gt;bold&lt;/b&gt; claim</title>
    <id>urn:test:hostile:1</id>
    <link rel="alternate" href="https://wire.example/1"/>
    <link rel="enclosure" href="https://wire.example/1.mp3" length="12345" type="audio/mpeg"/>
    <updated>2025-07-03T11:00:00Z</updated>
    <category term="World"/>
    <author><name>Wire Desk</name></author>
    <summary>A short summary.</summary>
    <content type="html">&lt;p&gt;The full text.&lt;/p&gt;</content>
  </entry>
</feed>
"""


@dataclass(frozen=True)
class Site:
    hub: Hub
    port: int
    config: Path

    @property
    def output_dir(self) -> Path:
        return self.hub.settings.hub.output_dir

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def site_sources(feed_server: FeedServer) -> list[dict[str, object]]:
    """The three samples, and the hostile feed filed under World."""
    hostile = feed_server.route("/hostile.xml", Reply.feed(HOSTILE_ATOM, "application/atom+xml"))
    return [
        *serve_samples(feed_server),
        {"url": hostile, "name": HOSTILE_SOURCE, "categories": ["world"], "interval": "15m"},
    ]


@contextmanager
def served_site(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock | None = None
) -> Iterator[Site]:
    """Poll every source once, publish, and serve the result as `feedhub serve` would."""
    config = write_config(site_sources(feed_server), CATEGORIES)
    hub = open_hub(config, clock)
    summary = hub.run_once()
    assert summary.polled == 4 and summary.failed == 0
    app = site_app(hub.settings, metrics_endpoint(hub.store, hub.metrics, hub.clock))
    server, thread = start_background_server(app, "127.0.0.1", 0)
    try:
        yield Site(hub, server.effective_port, config)
    finally:
        server.close()
        thread.join(timeout=10)
