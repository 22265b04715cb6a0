"""Decide which network addresses feedhub may fetch from (server-side request forgery guard).

Unless private networks are allowed, loopback, private, link-local (cloud
metadata), CGNAT, multicast, reserved and unspecified addresses, IPv4 and IPv6,
are refused; so are IPv6 site-local (fec0::/10) addresses, and 6to4 (2002::/16)
and IPv4-mapped addresses whose IPv4 address would be refused.
`check_url_address` looks before connecting (nothing is sent to a refused host);
`check_peer` checks the address a socket actually connected to, which is what
counts when DNS answers differently the second time (rebinding).

A URL's host is read with urllib3's parser, the one requests connects with:
`http://10.0.0.1\\@example.org/` is a request to 10.0.0.1 for urllib3, while
`urllib.parse` reads example.org.
"""

from __future__ import annotations

import ipaddress
import socket

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from feedhub.core.errors import FetchError, PrivateAddressRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public_address(embedded)
        if address in _SITE_LOCAL:
            return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def connect_host(url: str) -> str:
    """The host requests (urllib3) connects to for `url`, lower-cased; "" if none."""
    try:
        host = parse_url(url).host
    except LocationParseError:
        return ""
    return (host or "").strip("[]").lower()


def refuse_if_private(host: str, address: IPAddress, *, allow_private: bool) -> None:
    if not allow_private and not is_public_address(address):
        raise PrivateAddressRefused(
            f"{host} resolves to the non-public address {address}; refused "
            "(set allow_private_networks = true on the source to poll it)"
        )


def check_peer(host: str, peer: str, *, allow_private: bool) -> None:
    """Refuse a connection to `host` that reached the non-public address `peer`."""
    address = ipaddress.ip_address(peer)
    if not allow_private and not is_public_address(address):
        raise PrivateAddressRefused(
            f"{host}: connected to the non-public address {address} (its DNS answer changed?); "
            "refused (set allow_private_networks = true on the source to poll it)"
        )


def check_url_address(url: str, *, allow_private: bool) -> None:
    """Refuse `url` when its host resolves to a non-public address (unless allowed)."""
    if allow_private:
        return
    host = connect_host(url)
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise FetchError(f"{url}: cannot resolve {host} ({error.strerror})") from None
    for info in infos:
        refuse_if_private(host, ipaddress.ip_address(info[4][0]), allow_private=False)
