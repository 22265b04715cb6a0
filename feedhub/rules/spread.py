"""Which due sources to claim next, so that the fetches in hand span as many hosts as they can.

Pure: the store hands over its due sources in due order, the pipeline the hosts it
already has fetches in hand for. Fetches to one host wait for its `per_host` slots, so
a window of sources that all live on a few hosts (a config listing a site's ten section
feeds one after another, or ids that follow the URLs' order) leaves most fetch threads
waiting while other hosts sit idle. Taking hosts in turn keeps each host's own order
and, among hosts equally loaded, the one whose source is due first.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    """The host a fetch of `url` waits on (as `Fetcher` keys its per-host slots)."""
    return (urlsplit(url).hostname or "").lower()


def spread_over_hosts(
    candidates: Sequence[tuple[int, str]], limit: int, busy: Mapping[str, int]
) -> list[int]:
    """Up to `limit` ids from `candidates` ((id, host) in due order), hosts taken in turn.

    A host's load is its fetches in hand (`busy`) plus those picked here; the next pick
    is the least loaded host's earliest candidate, ties going to the host due first.
    """
    queues: dict[str, deque[int]] = {}
    for source_id, host in candidates:
        queues.setdefault(host, deque()).append(source_id)
    turns = [(busy.get(host, 0), rank, host) for rank, host in enumerate(queues)]
    heapq.heapify(turns)
    picked: list[int] = []
    while turns and len(picked) < limit:
        load, rank, host = heapq.heappop(turns)
        queue = queues[host]
        picked.append(queue.popleft())
        if queue:
            heapq.heappush(turns, (load + 1, rank, host))
    return picked
