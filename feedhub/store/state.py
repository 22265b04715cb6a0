"""Small named values the hub keeps in the store (`hub_state`): digests, last prune."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.store import dialects
from feedhub.store.schema import (
    hub_state,
)


def read_state(connection: Connection, name: str) -> str | None:
    """A small named value the hub keeps in the store (`hub_state`)."""
    return connection.execute(
        sa.select(hub_state.c.value).where(hub_state.c.name == name)
    ).scalar_one_or_none()


def write_state(connection: Connection, name: str, value: str) -> None:
    upsert = dialects.insert(connection, hub_state).values(name=name, value=value)
    connection.execute(
        upsert.on_conflict_do_update(index_elements=[hub_state.c.name], set_={"value": value})
    )
