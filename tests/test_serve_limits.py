"""The published-documents server against hostile clients: huge request lines, stalled clients."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedhub.serve.app import FileDocuments, make_app, start_background_server

FEED = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>\n'


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "atom.xml").write_bytes(FEED)
    # Timeouts shortened so the test waits seconds, not the minute the defaults allow.
    limits = {"channel_timeout": 1, "cleanup_interval": 1}
    server, thread = start_background_server(
        make_app(FileDocuments(tmp_path), 60), "127.0.0.1", 0, limits=limits
    )
    yield server.effective_port
    server.close()
    thread.join(timeout=10)


def exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send `data` and read until the server hangs up (a reset too: it may stop reading)."""
    received = b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock,
        contextlib.suppress(ConnectionResetError, BrokenPipeError),
    ):
        sock.sendall(data)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_an_oversized_request_line_is_refused_and_the_server_goes_on(port: int) -> None:
    target = "/news/atom.xml?" + "a" * (64 * 1024)
    refused = exchange(port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert refused == b"" or refused.split(b" ", 2)[1] in (b"400", b"414", b"431")
    assert FEED not in refused
    served = exchange(port, b"GET /news/atom.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert served.endswith(FEED)


def test_a_client_that_stalls_mid_request_is_dropped(port: int) -> None:
    # Half a request, then silence: the server hangs up (recv returns b"") long before
    # the client's own 20 s timeout would give up.
    assert b"200 OK" not in exchange(port, b"GET /news/atom.xml HTTP/1.1\r\nHost:", timeout=20)


def _open(sock: socket.socket) -> bool:
    """Whether the server has not closed `sock` (nothing to read counts as open)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


@contextlib.contextmanager
def dripping(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that each start a request and then send one header line at
    a time, never finishing (slowloris), until the block ends (at most 600 rounds)."""
    attackers = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    stop = threading.Event()

    def drip() -> None:
        for sock in attackers:
            sock.sendall(b"GET /news/atom.xml HTTP/1.1\r\n")
        for _ in range(600):
            for sock in attackers:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Drip: 1\r\n")
            if stop.wait(0.2):
                return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield attackers
    finally:
        stop.set()
        thread.join(timeout=10)
        for sock in attackers:
            sock.close()


def test_a_new_client_is_served_while_100_connections_drip_their_headers(
    tmp_path: Path,
) -> None:
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "atom.xml").write_bytes(FEED)
    # No header timeout in reach: the new client must get room while every attacker stays.
    server, thread = start_background_server(
        make_app(FileDocuments(tmp_path), 60), "127.0.0.1", 0, header_timeout=600
    )
    try:
        with dripping(server.effective_port, 100) as attackers:
            request = b"GET /news/atom.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            response = exchange(server.effective_port, request, timeout=60)
            still_connected = sum(_open(sock) for sock in attackers)
        assert response.startswith(b"HTTP/1.1 200 OK")
        assert still_connected >= 95  # the oldest ones made room, the rest still drip
    finally:
        server.close()
        thread.join(timeout=10)


def test_a_client_that_drips_its_headers_is_dropped_at_the_header_timeout(
    tmp_path: Path,
) -> None:
    server, thread = start_background_server(
        make_app(FileDocuments(tmp_path), 60), "127.0.0.1", 0, header_timeout=1
    )
    try:
        with dripping(server.effective_port, 1) as (attacker,):
            attacker.settimeout(60)  # the drip lasts 120 s at most; the server hangs up first
            with contextlib.suppress(ConnectionResetError):
                assert attacker.recv(1024) == b""
        assert thread.is_alive()
    finally:
        server.close()
        thread.join(timeout=10)


def test_a_slow_reader_gets_its_whole_answer_past_the_header_timeout(tmp_path: Path) -> None:
    big = b"<feed>" + b"x" * (32 * 1024 * 1024) + b"</feed>\n"  # more than socket buffers hold
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "atom.xml").write_bytes(big)
    server, thread = start_background_server(
        make_app(FileDocuments(tmp_path), 60), "127.0.0.1", 0, header_timeout=1
    )
    try:
        with socket.create_connection(("127.0.0.1", server.effective_port), timeout=30) as sock:
            sock.sendall(b"GET /big/atom.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = sock.recv(1)
            # Wait past the header timeout with the answer half sent: the server polls
            # this connection's readiness meanwhile, and must not take it for an idle one.
            threading.Event().wait(3)
            while chunk := sock.recv(1024 * 1024):
                received += chunk
        assert received.endswith(b"</feed>\n")
        assert len(received.partition(b"\r\n\r\n")[2]) == len(big)
    finally:
        server.close()
        thread.join(timeout=10)
