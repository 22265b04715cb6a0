"""A hostile feed server on 127.0.0.1, and the hostile documents it serves.

`HostileServer` speaks just enough HTTP over raw sockets to attack a feed
reader: endless bodies, a gzip bomb, dripping headers or bodies, redirect
loops and chains, redirects to private addresses and local files, XML entity
attacks, 100,000 entries, a 10 MB title, random bytes. Until `attacking` is
set, every path serves a calm, valid feed of its own (`growing_feed` is one
for `tests.httpserver.FeedServer`), so a test can first let
a source store entries and then turn it hostile. Every visit is logged with
when it started and ended.
"""

from __future__ import annotations

import gzip
import os
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.httpserver import Reply, Request

SECRET = "TOP-SECRET-local-file-4b1d"  # the content of the local file attacks point at
MB = 1 << 20


# --- documents --------------------------------------------------------------


def rss(items: str, doctype: str = "", title: str = "t") -> bytes:
    return (
        f'<?xml version="1.0"?>\n{doctype}<rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example.org/</link>{items}</channel></rss>"
    ).encode()


def rss_items(count: int, prefix: str = "Entry", start: int = 0) -> str:
    return "".join(
        f"<item><title>{prefix} {n}</title><link>http://example.org/{prefix}/{n}</link>"
        f"<guid>{prefix}-{n}</guid><description>Text of {prefix} {n}</description></item>"
        for n in range(start, start + count)
    )


def growing_feed(name: str, delay: float = 0.0) -> Callable[[Request], Reply]:
    """A calm feed with two more entries at every request, so every poll writes to the store."""
    served = 0

    def reply(_: Request) -> Reply:
        nonlocal served
        served += 1
        body = rss(rss_items(2 * served, name), title=name)
        return Reply(200, body, {"Content-Type": "application/rss+xml"}, delay=delay)

    return reply


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + ("" if i == 1 else str(i - 1)) + ";") * 10}">'
        for i in range(1, 10)
    ]
    # On one line: feedparser's own DOCTYPE clean-up only sees declarations on their own line.
    doctype = "<!DOCTYPE rss [" + "".join(entities) + "]>"
    return rss("<item><title>&lol9;</title><link>http://example.org/1</link></item>", doctype)


def quadratic_blowup() -> bytes:
    doctype = '<!DOCTYPE rss [\n<!ENTITY a "' + "x" * 100_000 + '">\n]>\n'
    item = f"<item><title>{'&a;' * 20_000}</title><link>http://example.org/1</link></item>"
    return rss(item, doctype)


def external_entity(secret_file: Path) -> bytes:
    doctype = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>'
    item = "<item><title>&xxe;</title><description>&xxe;</description>"
    return rss(item + "<link>http://example.org/1</link></item>", doctype)


def parameter_entity(secret_file: Path) -> bytes:
    doctype = f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{secret_file.as_uri()}"> %p;]>\n'
    return rss("<item><title>x</title><link>http://example.org/1</link></item>", doctype)


def external_dtd(secret_file: Path) -> bytes:
    doctype = f'<!DOCTYPE rss SYSTEM "{secret_file.as_uri()}">\n'
    return rss("<item><title>x</title><link>http://example.org/1</link></item>", doctype)


def many_entries(count: int = 100_000) -> bytes:
    return rss(rss_items(count, "Many"))


def huge_title(size: int = 10 * MB) -> bytes:
    return rss(f"<item><title>{'T' * size}</title><link>http://example.org/t</link></item>")


def random_bytes(size: int = 256 * 1024) -> bytes:
    return os.urandom(size)


@cache
def gzip_bomb(megabytes: int = 1024) -> bytes:
    """A gzip stream of `megabytes` MB of zeros in about 1 kB per MB, built in well under a second:
    each fully flushed MB of zeros compresses to the same bytes, so they are repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(MB)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    steady = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (megabytes * MB) & 0xFFFFFFFF)
    return header + first + steady * (megabytes - 1) + end + trailer


# --- the server -------------------------------------------------------------


@dataclass
class Visit:
    path: str
    ended: bool = False  # the exchange is over
    cut_short: bool = False  # the reader hung up before the attack was through


class Exchange:
    """One request on a raw socket, for an attack to answer however it likes."""

    def __init__(self, sock: socket.socket, path: str, server: HostileServer) -> None:
        self.sock = sock
        self.path = path
        self.server = server

    def head(self, status: str, **headers: str) -> None:
        lines = [f"HTTP/1.1 {status}", *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join([*lines, "Connection: close", "", ""])).encode())

    def send(self, body: bytes, content_type: str = "application/rss+xml", **headers: str) -> None:
        self.head("200 OK", Content_Type=content_type, Content_Length=str(len(body)), **headers)
        self.sock.sendall(body)

    def redirect(self, location: str) -> None:
        self.head("302 Found", Location=location, Content_Length="0")

    def drip(self, data: Iterator[bytes], every: float) -> None:
        for piece in data:
            self.sock.sendall(piece)
            time.sleep(every)


Attack = Callable[[Exchange], None]


def endless_body(exchange: Exchange, total: int = 1024 * MB) -> None:
    """1 GB of feed, streamed without a length (the reader must stop at its cap)."""
    exchange.head("200 OK", Content_Type="application/rss+xml")
    exchange.sock.sendall(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>')
    chunk = b"<!-- " + b"x" * (64 * 1024 - 9) + b" -->"
    for _ in range(total // len(chunk)):
        exchange.sock.sendall(chunk)


def drip_body(exchange: Exchange) -> None:
    exchange.head("200 OK", Content_Type="application/rss+xml")
    exchange.drip((bytes([byte]) for byte in rss(rss_items(50, "Drip")) * 10), every=1.0)


def reset_mid_body(exchange: Exchange) -> None:
    """Half a body, then a TCP reset (RST), as a crashing server or a middlebox sends."""
    exchange.head("200 OK", Content_Type="application/rss+xml", Content_Length="100000")
    exchange.sock.sendall(b'<?xml version="1.0"?><rss version="2.0">')
    exchange.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    exchange.sock.close()


def drip_headers(exchange: Exchange) -> None:
    exchange.sock.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    exchange.drip((b"a" for _ in range(600)), every=1.0)


class HostileServer:
    """Raw HTTP on 127.0.0.1: calm feeds until `attacking`, then each path's attack."""

    def __init__(self, secret_file: Path, private_target: str, host: str = "127.0.0.1") -> None:
        self.attacking = False
        self.generation = 0  # calm feeds gain entries when it grows
        self.visits: list[Visit] = []
        self._lock = threading.Lock()
        self.routes: dict[str, Attack] = {
            "/huge-body": endless_body,
            "/gzip-bomb": lambda x: x.send(gzip_bomb(), Content_Encoding="gzip"),
            "/drip-body": drip_body,
            "/drip-headers": drip_headers,
            "/reset-mid-body": reset_mid_body,
            "/redirect-loop": lambda x: x.redirect("/redirect-loop-2"),
            "/redirect-loop-2": lambda x: x.redirect("/redirect-loop"),
            "/redirect-chain": lambda x: x.redirect("/redirect-chain/1"),
            "/redirect-private": lambda x: x.redirect(private_target),
            "/redirect-file": lambda x: x.redirect(secret_file.as_uri()),
            "/billion-laughs": lambda x: x.send(billion_laughs()),
            "/quadratic-blowup": lambda x: x.send(quadratic_blowup()),
            "/external-entity": lambda x: x.send(external_entity(secret_file)),
            "/many-entries": lambda x: x.send(
                gzip.compress(many_entries(), 1), Content_Encoding="gzip"
            ),
            # Compressed, so the field cap is what they meet, not the body cap.
            "/huge-title": lambda x: x.send(
                gzip.compress(huge_title(), 1), Content_Encoding="gzip"
            ),
            "/random-bytes": lambda x: x.send(random_bytes()),
        }
        self._server = socketserver.ThreadingTCPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def visits_to(self, path: str) -> list[Visit]:
        with self._lock:
            return [visit for visit in self.visits if visit.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, exchange: Exchange) -> None:
        path = exchange.path
        if not self.attacking:
            name = path.strip("/").replace("/", "-") or "root"
            exchange.send(rss(rss_items(3, name, start=3 * self.generation), title=name))
        elif path.startswith("/redirect-chain/"):
            exchange.redirect(f"/redirect-chain/{int(path.rsplit('/', 1)[1]) + 1}")
        elif path in self.routes:
            self.routes[path](exchange)
        else:
            exchange.head("404 Not Found", Content_Length="0")

    def _handler_class(self) -> type[socketserver.BaseRequestHandler]:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.connection.settimeout(30)
                request_line = self.rfile.readline(65536).decode("latin-1").split()
                while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass  # the request's headers: no attack here looks at them
                if len(request_line) < 2:
                    return
                visit = Visit(request_line[1])
                with server._lock:
                    server.visits.append(visit)
                try:
                    server._answer(Exchange(self.connection, visit.path, server))
                except OSError:
                    visit.cut_short = True  # what an attack hopes not to see
                finally:
                    visit.ended = True

        return Handler
