"""A web page configured as a source: the error says it is a page and names the feeds it
links to, and `status` shows the HTTP status the server answered with."""

from __future__ import annotations

from feedhub.app.status import render_table, source_statuses
from feedhub.core.models import SourceHealth
from tests.conftest import ConfigWriter, FakeClock, open_hub
from tests.httpserver import FeedServer, Reply

PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>A blog</title>"
    b'<link rel="alternate" type="application/rss+xml" href="/feed/" title="Posts">'
    b'<link rel="alternate" type="application/atom+xml" href="https://blog.example/atom.xml">'
    b'<link rel="stylesheet" href="/style.css"></head><body><p>Hi</p></body></html>'
)
BARE_PAGE = b"<!DOCTYPE html>\n<html><head><title>No feeds</title></head><body></body></html>"


def test_a_page_names_the_feeds_it_links_to_and_its_status_is_shown(
    feed_server: FeedServer, write_config: ConfigWriter, clock: FakeClock
) -> None:
    page = feed_server.route("/blog/", Reply(200, PAGE, {"Content-Type": "text/html"}))
    bare = feed_server.route("/bare", Reply(200, BARE_PAGE, {}))
    hub = open_hub(write_config([{"url": page, "name": "Blog"}, {"url": bare, "name": "Bare"}]))
    hub.run_once()
    states = {state.name: state for state in hub.store.source_states()}
    blog = states["Blog"]
    assert blog.health is SourceHealth.FAILING
    assert blog.last_error == (
        f"{page}: this is a web page (HTML), not a feed; it links to "
        f"{feed_server.url('/feed/')} (RSS), https://blog.example/atom.xml (Atom): "
        "use one of those as the source's url"
    )
    assert "syntax error" not in (blog.last_error or "")
    assert states["Bare"].last_error == (
        f"{bare}: this is a web page (HTML), not a feed, and it links to no feed; "
        f"`feedhub sources add {bare}` looks for the site's feed"
    )
    assert blog.last_status == 200
    rows = source_statuses(hub.settings, states.values())
    table = render_table(rows).splitlines()
    http = table[0].index("HTTP")
    assert [line[http : http + 3] for line in table[1:]] == ["200", "200"]
