"""Decide which network addresses feedhub may fetch from (server-side request forgery guard).

Unless private networks are allowed, loopback, private, link-local (cloud
metadata), CGNAT, multicast, reserved and unspecified addresses, IPv4 and IPv6,
are refused. `check_url_address` looks before connecting (nothing is sent to
a refused host); `check_peer` checks the address a socket actually connected to,
which is what counts when DNS answers differently the second time (rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from feedhub.core.errors import AddressRefused, HostNotFound

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public_address(address.ipv4_mapped)
    return address.is_global and not address.is_multicast and not address.is_reserved


def refuse_if_private(host: str, address: IPAddress, *, allow_private: bool) -> None:
    if not allow_private and not is_public_address(address):
        raise AddressRefused(
            f"{host} resolves to the non-public address {address}; refused "
            "(set allow_private_networks = true on the source to poll it)"
        )


def check_peer(host: str, peer: str, *, allow_private: bool) -> None:
    """Refuse a connection to `host` that reached the non-public address `peer`."""
    address = ipaddress.ip_address(peer)
    if not allow_private and not is_public_address(address):
        raise AddressRefused(
            f"{host}: connected to the non-public address {address} (its DNS answer changed?); "
            "refused (set allow_private_networks = true on the source to poll it)"
        )


def check_url_address(url: str, *, allow_private: bool) -> None:
    """Refuse `url` when its host resolves to a non-public address (unless allowed)."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise HostNotFound(f"{url}: cannot resolve {host} ({error.strerror})") from None
    for info in infos:
        refuse_if_private(host, ipaddress.ip_address(info[4][0]), allow_private=False)
