"""Who holds the sources' claims: worker names, holders found gone, due and held counts.

A claim (`sources.lease_owner`, `lease_until`) names its worker as "HOST pid PID
ns NS TAG": the host name, the process id, the process-id namespace (two
containers sharing a host name count the same pids apart) and a random tag for
a restarted process that got the same pid. A run that starts gives back the
claims whose holder ran on this machine and whose process is no longer alive
(`free_gone`), without waiting for their leases to run out; a holder on another
machine cannot be checked, so its claims wait for the lease. Looking is a scan
of the sources table, so it is done once per run, not on every claim.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.store.schema import sources

log = logging.getLogger(__name__)

_OWNER = re.compile(r"(?P<host>.+) pid (?P<pid>\d+) ns (?P<ns>\d+) (?P<tag>[0-9a-f]+)")


@dataclass(frozen=True, slots=True)
class Holder:
    """A worker that holds claims, as its name in `sources.lease_owner` says."""

    host: str
    pid: int
    namespace: int
    tag: str

    @property
    def name(self) -> str:
        return f"{self.host} pid {self.pid} ns {self.namespace} {self.tag}"

    @property
    def short(self) -> str:
        """How `status` names it: the host and the process."""
        return f"{self.host} pid {self.pid}"

    def gone(self, here: Holder) -> bool:
        """Whether this holder ran on `here`'s machine and its process is no longer alive."""
        if (self.host, self.namespace) != (here.host, here.namespace) or self.pid == here.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False


def this_worker() -> Holder:
    """A name for this process's claims, new on every call (a new hub, a new tag)."""
    return Holder(socket.gethostname()[:150], os.getpid(), _pid_namespace(), secrets.token_hex(4))


def parse_owner(owner: str) -> Holder | None:
    """The holder an owner name describes; None for a name this version does not write."""
    found = _OWNER.fullmatch(owner)
    if found is None:
        return None
    return Holder(found["host"], int(found["pid"]), int(found["ns"]), found["tag"])


def gone_owners(connection: Connection, here: Holder) -> list[str]:
    """The owner names of claims still on record whose holders are gone (see `Holder.gone`)."""
    owners = connection.execute(
        sa.select(sources.c.lease_owner).where(sources.c.lease_owner.is_not(None)).distinct()
    ).scalars()
    return [owner for owner in owners if (holder := parse_owner(owner)) and holder.gone(here)]


def free_gone(connection: Connection, here: Holder) -> list[str]:
    """Give back every claim of a holder that is gone; the names of those holders."""
    gone = gone_owners(connection, here)
    if gone:
        connection.execute(
            sources.update()
            .where(sources.c.lease_owner.in_(gone))
            .values(lease_owner=None, lease_until=None)
        )
        holders = ", ".join(holder.short for owner in gone if (holder := parse_owner(owner)))
        log.info("gave back the claims of %s: no such process any more", holders)
    return gone


def due_conditions(
    now: datetime, *, everything: bool, started: datetime | None
) -> list[sa.ColumnElement[bool]]:
    """Which sources a poll at `now` takes (see `Store.claim_due_sources`), held or not."""
    # A source without a next due time is not scheduled (gone) until retried.
    due: list[sa.ColumnElement[bool]] = [
        sources.c.active.is_(True),
        sources.c.next_due.is_not(None),
    ]
    if everything:
        due.append(
            sa.or_(sources.c.last_attempt.is_(None), sources.c.last_attempt < (started or now))
        )
    else:
        due.append(sources.c.next_due <= now)
    return due


def free_condition(now: datetime, gone: Sequence[str] = ()) -> sa.ColumnElement[bool]:
    """Unclaimed, or claimed by a lease that ran out or by a holder that is gone."""
    free = [sources.c.lease_until.is_(None), sources.c.lease_until <= now]
    if gone:
        free.append(sources.c.lease_owner.in_(gone))
    return sa.or_(*free)


@dataclass(frozen=True, slots=True)
class Held:
    """A source another worker has in hand: by whom, until when."""

    url: str
    owner: str
    until: datetime

    @property
    def holder(self) -> str:
        parsed = parse_owner(self.owner)
        return parsed.short if parsed else self.owner


def held_sources(connection: Connection, now: datetime, here: Holder) -> list[Held]:
    """The sources claimed under a lease that still runs, by a holder not known to be gone."""
    return _held(connection, now, here)


def count_due(
    connection: Connection, now: datetime, here: Holder, *, everything: bool
) -> tuple[int, list[Held]]:
    """How many sources a poll starting at `now` would take, and which of them are held."""
    due = due_conditions(now, everything=everything, started=now)
    total = connection.execute(
        sa.select(sa.func.count()).select_from(sources).where(*due)
    ).scalar_one()
    return total, _held(connection, now, here, *due)


def _held(
    connection: Connection, now: datetime, here: Holder, *where: sa.ColumnElement[bool]
) -> list[Held]:
    gone = gone_owners(connection, here)
    rows = connection.execute(
        sa.select(sources.c.url, sources.c.lease_owner, sources.c.lease_until)
        .where(*where, sources.c.lease_owner.is_not(None), sa.not_(free_condition(now, gone)))
        .order_by(sources.c.lease_until, sources.c.id)
    )
    return [Held(row.url, row.lease_owner, row.lease_until) for row in rows]


def _pid_namespace() -> int:
    try:
        return Path("/proc/self/ns/pid").stat().st_ino
    except OSError:  # not Linux: the host name alone says which machine
        return 0
