"""The published-documents server, over real sockets against waitress on 127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from feedhub.serve.app import FileDocuments, make_app, safe_relative_path, start_background_server

SECRET = b"TOP-SECRET-do-not-serve-7f3a"
MAX_AGE = 900

SAMPLES = {
    "index.html": b"<!doctype html><title>hub</title><p>front page</p>\n",
    "sources.opml": b'<?xml version="1.0"?><opml version="2.0"><body/></opml>\n',
    "news/atom.xml": b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>\n' * 40,
    "news/rss.xml": b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>\n',
    "news/feed.json": b'{"version": "https://jsonfeed.org/version/1.1", "items": []}\n',
    "notes.txt": b"a file of a type we do not serve\n",
}


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True)
class Site:
    output_dir: Path
    port: int


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("serve")
    output_dir = base / "site"
    for name, body in SAMPLES.items():
        (output_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (output_dir / name).write_bytes(body)
    outside = base / "outside"
    outside.mkdir()
    (base / "secret.html").write_bytes(SECRET)
    (outside / "atom.xml").write_bytes(SECRET)
    (output_dir / "leak.html").symlink_to(base / "secret.html")
    (output_dir / "elsewhere").symlink_to(outside, target_is_directory=True)

    registry = CollectorRegistry()
    Counter("feedhub_fetches", "Fetches.", registry=registry).inc(3)
    app = make_app(
        FileDocuments(output_dir),
        MAX_AGE,
        metrics=lambda: (generate_latest(registry), "text/plain; version=0.0.4; charset=utf-8"),
    )
    server, thread = start_background_server(app, "127.0.0.1", 0)
    yield Site(output_dir, server.effective_port)
    server.close()
    thread.join(timeout=10)


def request(
    port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def raw_request(port: int, data: bytes) -> bytes:
    """Send bytes as they are, so no client library normalizes the path; read to EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # The server may hang up before reading everything; then read what it said.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(raw: bytes) -> int:
    """The status code of a raw response, 0 for no response."""
    return int(raw.split(b" ", 2)[1]) if raw else 0


def raw_get(port: int, target: str, method: str = "GET") -> bytes:
    line = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    return raw_request(port, line.encode("latin-1"))


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/news/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/news/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/news/feed.json", "application/feed+json; charset=utf-8"),
        ("/sources.opml", "text/x-opml; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_documents_are_served_with_their_content_type_and_validators(
    site: Site, path: str, content_type: str
) -> None:
    response = request(site.port, path)
    name = path.lstrip("/") or "index.html"
    assert response.status == 200
    assert response.body == SAMPLES[name]
    assert response.headers["content-type"] == content_type
    assert response.headers["content-length"] == str(len(SAMPLES[name]))
    assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
    mtime = (site.output_dir / name).stat().st_mtime_ns // 1_000_000_000
    last_modified = parsedate_to_datetime(response.headers["last-modified"])
    assert last_modified == datetime.fromtimestamp(mtime, UTC)
    assert response.headers["cache-control"] == f"max-age={MAX_AGE}"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["server"] == "feedhub"


def test_etag_is_a_hash_of_the_body(site: Site) -> None:
    atom = request(site.port, "/news/atom.xml").headers["etag"]
    rss = request(site.port, "/news/rss.xml").headers["etag"]
    assert atom != rss
    assert request(site.port, "/news/atom.xml").headers["etag"] == atom


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
)
def test_matching_if_none_match_gives_304(site: Site, if_none_match: str) -> None:
    etag = request(site.port, "/news/atom.xml").headers["etag"]
    response = request(
        site.port, "/news/atom.xml", headers={"If-None-Match": if_none_match.format(etag=etag)}
    )
    assert response.status == 304
    assert response.body == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == f"max-age={MAX_AGE}"


def test_non_matching_if_none_match_gives_200_even_with_a_recent_if_modified_since(
    site: Site,
) -> None:
    first = request(site.port, "/news/atom.xml")
    response = request(
        site.port,
        "/news/atom.xml",
        headers={
            "If-None-Match": '"not-the-etag"',
            "If-Modified-Since": first.headers["last-modified"],
        },
    )
    assert response.status == 200
    assert response.body == SAMPLES["news/atom.xml"]


def test_if_modified_since_gives_304_when_not_modified_and_200_when_older(site: Site) -> None:
    last_modified = request(site.port, "/news/rss.xml").headers["last-modified"]
    same = request(site.port, "/news/rss.xml", headers={"If-Modified-Since": last_modified})
    assert same.status == 304
    earlier = parsedate_to_datetime(last_modified) - timedelta(seconds=1)
    older = request(
        site.port,
        "/news/rss.xml",
        headers={"If-Modified-Since": format_datetime(earlier, usegmt=True)},
    )
    assert older.status == 200
    assert older.body == SAMPLES["news/rss.xml"]
    garbage = request(site.port, "/news/rss.xml", headers={"If-Modified-Since": "yesterday"})
    assert garbage.status == 200


def test_gzip_when_accepted_with_its_own_etag(site: Site) -> None:
    plain = request(site.port, "/news/atom.xml")
    zipped = request(site.port, "/news/atom.xml", headers={"Accept-Encoding": "br, gzip;q=0.8"})
    assert zipped.status == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == SAMPLES["news/atom.xml"]
    assert zipped.headers["content-length"] == str(len(zipped.body))
    assert len(zipped.body) < len(plain.body)
    assert zipped.headers["etag"] != plain.headers["etag"]
    assert zipped.headers["vary"] == "Accept-Encoding"
    again = request(site.port, "/news/atom.xml", headers={"Accept-Encoding": "gzip"})
    assert again.body == zipped.body
    revalidated = request(
        site.port,
        "/news/atom.xml",
        headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]},
    )
    assert revalidated.status == 304


@pytest.mark.parametrize("accept_encoding", [None, "identity", "gzip;q=0", "br", "*;q=0"])
def test_no_gzip_unless_accepted(site: Site, accept_encoding: str | None) -> None:
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
    response = request(site.port, "/news/atom.xml", headers=headers)
    assert response.status == 200
    assert "content-encoding" not in response.headers
    assert response.body == SAMPLES["news/atom.xml"]


def test_head_has_the_headers_of_get_and_no_body(site: Site) -> None:
    get = request(site.port, "/news/feed.json")
    raw = raw_get(site.port, "/news/feed.json", method="HEAD")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert status_of(head) == 200
    assert body == b""
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = {name.lower(): value for name, _, value in (h.partition(": ") for h in lines)}
    for name in ("content-type", "content-length", "etag", "last-modified", "cache-control"):
        assert headers[name] == get.headers[name]


@pytest.mark.parametrize(
    "path", ["/missing.xml", "/notes.txt", "/news/", "/news", "/news/other.xml", "/metrics/"]
)
def test_unknown_paths_and_other_types_are_404(site: Site, path: str) -> None:
    response = request(site.port, path)
    assert response.status == 404
    assert response.headers["content-length"] == str(len(response.body))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_405_with_allow(site: Site, method: str) -> None:
    response = request(site.port, "/news/atom.xml", method=method)
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.html",
        "/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/secret.html",
        "/..%2fsecret.html",
        "/..%2Fsecret.html",
        "/%252e%252e/secret.html",
        "/%252e%252e%252fsecret.html",
        "/..\\secret.html",
        "/..\\..\\x",
        "/%2e%2e%5csecret.html",
        "/a/%00",
        "/secret.html%00.html",
        "/news/../../secret.html",
        "/./../secret.html",
        "//etc/passwd",
        "http://127.0.0.1/../secret.html",
        "/leak.html",
        "/elsewhere/atom.xml",
    ],
)
def test_no_path_escapes_the_output_dir(site: Site, target: str) -> None:
    response = raw_get(site.port, target)
    assert status_of(response) in (400, 404), response[:80]
    assert SECRET not in response
    assert b"root:" not in response


def test_absolute_path_to_the_secret_is_refused(site: Site) -> None:
    secret = site.output_dir.parent / "secret.html"
    response = raw_get(site.port, "/" + str(secret))
    assert status_of(response) == 404
    assert SECRET not in response


@pytest.mark.parametrize(
    "path_info",
    ["/..", "/../x", "/a/../x", "/..\\x", "/%2e%2e/x", "/a/\x00", "//etc/passwd", "/.hidden", "x"],
)
def test_unsafe_path_info_is_refused(path_info: str) -> None:
    # PATH_INFO as waitress hands it over: percent-decoded once.
    assert safe_relative_path(path_info) is None


@pytest.mark.parametrize(
    ("path_info", "relative"),
    [
        ("/", ""),
        ("/news/", "news/"),
        ("/news/atom.xml", "news/atom.xml"),
        ("/a-b_c~1.json", "a-b_c~1.json"),
    ],
)
def test_safe_path_info_is_made_relative(path_info: str, relative: str) -> None:
    assert safe_relative_path(path_info) == relative


def test_file_documents_refuse_paths_outside_even_when_called_directly(site: Site) -> None:
    documents = FileDocuments(site.output_dir)
    for path in ["../secret.html", "leak.html", "elsewhere/atom.xml", "news/../../secret.html"]:
        assert documents.get(path) is None
    document = documents.get("news/atom.xml")
    assert document is not None
    assert document.body == SAMPLES["news/atom.xml"]


def test_oversized_request_header_is_rejected(site: Site) -> None:
    data = (
        b"GET /news/atom.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
        + b"a" * (64 * 1024)
        + b"\r\nConnection: close\r\n\r\n"
    )
    response = raw_request(site.port, data)
    assert status_of(response) in (0, 400, 431)
    assert SAMPLES["news/atom.xml"] not in response


def test_metrics_served_from_the_callable(site: Site) -> None:
    response = request(site.port, "/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
    assert families["feedhub_fetches"].samples[0].value == 3


def test_file_replaced_by_atomic_rename_gets_the_new_etag(site: Site) -> None:
    target = site.output_dir / "swap" / "atom.xml"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"<feed>version one</feed>\n")
    before = request(site.port, "/swap/atom.xml")
    replacement = target.with_name(".atom.xml.tmp")
    replacement.write_bytes(b"<feed>version two</feed>\n")  # same size
    old = target.stat()
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))  # same mtime too
    replacement.replace(target)
    after = request(site.port, "/swap/atom.xml")
    assert before.body == b"<feed>version one</feed>\n"
    assert after.body == b"<feed>version two</feed>\n"
    assert after.headers["etag"] != before.headers["etag"]
    revalidated = request(
        site.port, "/swap/atom.xml", headers={"If-None-Match": before.headers["etag"]}
    )
    assert revalidated.status == 200


def test_without_metrics_callable_metrics_is_404_and_close_stops_the_server(
    tmp_path: Path,
) -> None:
    (tmp_path / "index.html").write_bytes(b"<p>hi</p>")
    server, thread = start_background_server(make_app(FileDocuments(tmp_path), 60), "127.0.0.1", 0)
    try:
        assert server.effective_port > 0
        assert request(server.effective_port, "/metrics").status == 404
        assert request(server.effective_port, "/").body == b"<p>hi</p>"
    finally:
        server.close()
        thread.join(timeout=10)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        request(server.effective_port, "/")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/news/atom.xml"), ("GET", "/missing.xml"), ("POST", "/")],
)
def test_every_response_forbids_scripts_framing_and_referrers(
    site: Site, method: str, path: str
) -> None:
    headers = request(site.port, path, method=method).headers
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in headers["content-security-policy"].split(";")
        if directive.strip()
    }
    assert policy["default-src"] == ["'none'"]
    assert "script-src" not in policy  # so default-src 'none' forbids every script
    assert policy["frame-ancestors"] == ["'none'"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
