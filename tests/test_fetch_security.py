"""Server-side request forgery and fetch limits, over real sockets on 127.0.0.1.

Sources on private addresses are refused unless allowed; a source's own
allowance covers its own host, not where it redirects; the address actually
connected to is checked, so a DNS answer that changes between the check and the
connection (rebinding) is refused before anything is sent; a fetch is cut at
its deadline even when the server drips its headers; redirects are bounded.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from feedhub.config.settings import FetchSettings
from feedhub.core.errors import AddressRefused, FetchError, LimitExceeded
from feedhub.core.models import Fetched, SourceHealth
from feedhub.fetch.client import Fetcher, FetchRequest
from feedhub.fetch.netguard import is_public_address
from tests.conftest import ConfigWriter, open_hub
from tests.hostile import SECRET, HostileServer, rss, rss_items
from tests.httpserver import FeedServer, Reply

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PUBLIC_ADDRESS = "93.184.216.34"  # what the rebinding resolver answers first; never connected to


@pytest.fixture
def hostile(hostile_server: HostileServer) -> HostileServer:
    hostile_server.attacking = True
    return hostile_server


def fetcher(**settings: Any) -> Fetcher:
    return Fetcher(FetchSettings(**{"timeout": 3, "deadline": 3, **settings}))


@SQLITE_ONLY
def test_a_source_on_a_private_address_is_refused_unless_allowed(
    feed_server: FeedServer, write_config: ConfigWriter
) -> None:
    url = feed_server.route("/feed.xml", Reply.feed(rss(rss_items(2))))
    sources = [
        {"url": url, "name": "Refused"},
        {"url": url + "?allowed", "name": "Allowed", "allow_private_networks": True},
    ]
    hub = open_hub(write_config(sources, fetch={"allow_private_networks": False}))
    hub.run_once()
    states = {state.name: state for state in hub.store.source_states()}
    assert states["Refused"].health is SourceHealth.FAILING
    assert "non-public address 127.0.0.1" in (states["Refused"].last_error or "")
    assert "allow_private_networks = true" in (states["Refused"].last_error or "")
    assert states["Allowed"].health is SourceHealth.OK and states["Allowed"].entries == 2
    assert feed_server.hits("/feed.xml") == []  # the refused one sent nothing
    assert len(feed_server.hits("/feed.xml?allowed")) == 1


@SQLITE_ONLY
def test_a_source_may_not_redirect_to_another_private_host(
    hostile: HostileServer, private_server: FeedServer, write_config: ConfigWriter
) -> None:
    sources = [
        {
            "url": hostile.url("/redirect-private"),
            "name": "Redirector",
            "allow_private_networks": True,  # its own host, 127.0.0.1, only
        }
    ]
    hub = open_hub(write_config(sources, fetch={"allow_private_networks": False}))
    hub.run_once()
    (state,) = hub.store.source_states()
    assert state.health is SourceHealth.FAILING
    assert "127.0.0.2 resolves to the non-public address" in (state.last_error or "")
    assert private_server.hits("/feed.xml") == []


@SQLITE_ONLY
def test_a_redirect_to_a_local_file_is_refused(
    hostile: HostileServer, write_config: ConfigWriter, secret_file: Path
) -> None:
    sources = [{"url": hostile.url("/redirect-file"), "name": "To a file"}]
    hub = open_hub(write_config(sources))
    hub.run_once()
    (state,) = hub.store.source_states()
    assert state.health is SourceHealth.FAILING
    assert "redirect to a non-http(s) URL" in (state.last_error or "")
    published = hub.settings.hub.output_dir
    assert all(SECRET not in path.read_text() for path in published.rglob("*") if path.is_file())


def test_a_local_file_is_read_only_for_configured_sources(secret_file: Path) -> None:
    with pytest.raises(AddressRefused, match="local files may only be configured sources"):
        fetcher().fetch(FetchRequest(secret_file.as_uri()))


class RebindingResolver:
    """A DNS that answers the check with a public address and the connection with
    127.0.0.1: what an attacker's name server does with a very short TTL. urllib3
    asks with a port when it connects; feedhub's check asks without one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != self.name:
            return self.real(host, port, *args, **kwargs)
        address = PUBLIC_ADDRESS if port is None else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> str:
    name = "rebind.example"
    monkeypatch.setattr(socket, "getaddrinfo", RebindingResolver(name))
    return name


def test_dns_rebinding_is_refused_before_anything_is_sent(
    feed_server: FeedServer, rebinding: str
) -> None:
    feed_server.route("/feed.xml", Reply.feed(rss(rss_items(2))))
    url = f"http://{rebinding}:{feed_server.port}/feed.xml"
    with pytest.raises(AddressRefused, match=r"connected to the non-public address 127\.0\.0\.1"):
        fetcher().fetch(FetchRequest(url))
    assert feed_server.hits("/feed.xml") == []


def test_a_kept_alive_connection_is_checked_again_for_the_next_fetch(
    feed_server: FeedServer, rebinding: str
) -> None:
    feed_server.route("/feed.xml", Reply.feed(rss(rss_items(2))))
    url = f"http://{rebinding}:{feed_server.port}/feed.xml"
    session = fetcher()
    allowed = session.fetch(FetchRequest(url, private_host=rebinding))
    assert isinstance(allowed, Fetched)
    with pytest.raises(AddressRefused, match="connected to the non-public address"):
        session.fetch(FetchRequest(url + "?other-source"))
    assert len(feed_server.hits("/feed.xml")) == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_a_dripping_server_is_cut_off_at_the_deadline(hostile: HostileServer, path: str) -> None:
    with pytest.raises(LimitExceeded, match=r"longer than the deadline \(2s\)"):
        fetcher(timeout=5, deadline=2).fetch(FetchRequest(hostile.url(path), allow_private=True))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/redirect-loop", "redirect loop"),
        ("/redirect-chain", "more than 5 redirects"),
        ("/huge-body", r"over max_body_bytes \(2097152\)"),
        ("/gzip-bomb", r"over max_decompressed_bytes \(4194304\)"),
    ],
)
def test_redirects_and_sizes_are_bounded(hostile: HostileServer, path: str, message: str) -> None:
    limits = {"max_body_bytes": 2 << 20, "max_decompressed_bytes": 4 << 20}
    with pytest.raises(LimitExceeded, match=message):
        fetcher(**limits).fetch(FetchRequest(hostile.url(path), allow_private=True))


@pytest.mark.timeout(60)
def test_waiting_for_a_turn_at_the_host_does_not_count_against_the_deadline(
    hostile: HostileServer, feed_server: FeedServer
) -> None:
    healthy = feed_server.route("/feed.xml", Reply.feed(rss(rss_items(2))))
    session = fetcher(timeout=5, deadline=2, per_host=1)  # both servers are host 127.0.0.1
    drip_errors: list[BaseException] = []

    def drip() -> None:
        try:
            session.fetch(FetchRequest(hostile.url("/drip-body"), allow_private=True))
        except LimitExceeded as error:
            drip_errors.append(error)

    dripping = threading.Thread(target=drip)
    dripping.start()
    while not hostile.visits_to("/drip-body"):
        time.sleep(0.01)  # until the drip holds the host's only slot
    outcome = session.fetch(FetchRequest(healthy, allow_private=True))
    dripping.join()
    assert isinstance(outcome, Fetched)
    assert "longer than the deadline" in str(drip_errors[0])


def test_a_connection_reset_mid_body_is_a_fetch_error(hostile: HostileServer) -> None:
    with pytest.raises(FetchError, match="reading the body failed"):
        fetcher().fetch(FetchRequest(hostile.url("/reset-mid-body"), allow_private=True))


def test_a_backslash_in_a_redirect_cannot_smuggle_another_private_host(
    feed_server: FeedServer, private_server: FeedServer
) -> None:
    """urlsplit reads `http://127.0.0.2:P\\@localhost:P/` as host localhost; requests
    connects to 127.0.0.2. The guard judges the host requests connects to."""
    target = f"http://127.0.0.2:{private_server.port}\\@localhost:{feed_server.port}/internal"
    source = feed_server.route("/redirect", Reply(302, b"", {"Location": target}))
    source = source.replace("127.0.0.1", "localhost")
    with pytest.raises(AddressRefused):
        fetcher().fetch(FetchRequest(source, private_host="localhost"))
    assert private_server.requests == []  # nothing reached the other private host


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:7f00:1::1]/feed.xml",  # 6to4 of 127.0.0.1
        "http://[2002:a00:1::1]/feed.xml",  # 6to4 of 10.0.0.1
        "http://[2002:a9fe:a9fe::1]/feed.xml",  # 6to4 of 169.254.169.254 (cloud metadata)
        "http://[fec0::1]/feed.xml",  # site-local
        "http://[fed0:1::1]/feed.xml",  # site-local
    ],
)
def test_6to4_of_a_private_ipv4_and_site_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused, match="non-public address"):
        fetcher().fetch(FetchRequest(url))


def test_6to4_of_a_public_ipv4_is_public() -> None:
    assert is_public_address(ipaddress.IPv6Address("2002:5db8:d822::1"))  # 93.184.216.34
