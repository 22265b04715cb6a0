"""This worker's claims on due sources: taken a batch at a time, renewed while a poll
lasts, given back when it stops before polling them.

Claiming (see `feedhub.store.sources.claim_due`) lets several workers share one store:
none fetches a source another has in hand. A claim is a lease; a worker renews its
leases every third of a lease while it polls, so a slow poll keeps its sources and a
dead worker's leases run out.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from feedhub.core.clock import Clock
from feedhub.core.errors import StoreError
from feedhub.core.models import SourceState
from feedhub.store.claims import this_worker
from feedhub.store.facade import Store

log = logging.getLogger(__name__)


class Claims:
    """The claims one worker takes, renews and gives back on one store."""

    def __init__(self, store: Store, lease: timedelta, clock: Clock) -> None:
        self.store = store
        self.lease = lease
        self.clock = clock
        self.holder = this_worker()  # whose claims these are

    @property
    def owner(self) -> str:
        """The holder's name, as the store records it on each claim."""
        return self.holder.name

    def take(
        self, limit: int, everything: bool, *, started: datetime, busy: Counter[str]
    ) -> list[SourceState]:
        """Claim up to `limit` due sources, spread over hosts beyond those `busy` counts."""
        return self.store.claim_due_sources(
            self.owner,
            self.clock(),
            self.lease,
            limit,
            everything=everything,
            started=started,
            busy=busy,
        )

    def give_back(self, source_ids: Iterable[int]) -> None:
        """Release claims that were not polled after all (the worker is stopping)."""
        wanted = list(source_ids)
        if wanted:
            self.store.release_sources(self.owner, wanted)

    @contextmanager
    def renewing(self) -> Iterator[None]:
        """Renew this worker's leases every third of a lease while the block runs."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lease.total_seconds() / 3):
                try:
                    self.store.renew_claims(self.owner, self.clock() + self.lease)
                except StoreError as error:
                    log.warning("%s; trying again in a third of a lease", error)

        renewing = threading.Thread(target=renew, name="feedhub-lease", daemon=True)
        renewing.start()
        try:
            yield
        finally:
            done.set()
            renewing.join()
