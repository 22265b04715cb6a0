"""WebSub discovery: the hub and self URLs a fetched feed advertises.

The HTTP `Link` header comes first, as the spec says, then the feed's own
`<link rel="hub">` / `<atom:link rel="self">` elements. Only absolute http(s) URLs count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")
_REL = re.compile(r"""\brel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.IGNORECASE)


def advertised(
    headers: Mapping[str, str], feed_links: Iterable[Mapping[str, Any]], url: str
) -> tuple[str | None, str | None]:
    """The (hub, self) URLs that `url`'s response advertises; None for what it does not."""
    from_header = _header_links(headers.get("link", ""))
    from_feed = [
        (str(link.get("href") or ""), str(link.get("rel") or "").lower()) for link in feed_links
    ]
    found: dict[str, str] = {}
    for href, rels in [*from_header, *from_feed]:
        target = _absolute(url, href)
        for rel in rels.split():
            if target and rel in ("hub", "self"):
                found.setdefault(rel, target)
    return found.get("hub"), found.get("self")


def _header_links(header: str) -> list[tuple[str, str]]:
    links = []
    for match in _LINK.finditer(header):
        rel = _REL.search(match.group(2))
        if rel:
            links.append((match.group(1).strip(), (rel.group(1) or rel.group(2)).lower()))
    return links


def _absolute(base: str, href: str) -> str | None:
    target = urljoin(base, href.strip())
    parts = urlsplit(target)
    return target if parts.scheme in ("http", "https") and parts.hostname else None
