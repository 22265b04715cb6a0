"""Tables of (entry, category) rows made to hold exactly the pairs that routing now gives."""

from __future__ import annotations

from collections.abc import Callable, Set
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedhub.store import dialects


def replace_pairs(
    connection: Connection,
    table: sa.Table,
    wanted: Set[tuple[int, str]],
    columns: Callable[[int, str], dict[str, Any]] = lambda entry_id, slug: {},
) -> set[tuple[int, str]]:
    """Delete the (entry_id, category) rows of `table` not in `wanted`, insert those missing
    (with `columns` for their other columns); return the pairs that changed."""
    before = {
        (row.entry_id, row.category)
        for row in connection.execute(sa.select(table.c.entry_id, table.c.category))
    }
    gone = [{"entry": entry_id, "slug": slug} for entry_id, slug in before - wanted]
    if gone:
        connection.execute(
            table.delete().where(
                table.c.entry_id == sa.bindparam("entry"),
                table.c.category == sa.bindparam("slug"),
            ),
            gone,
        )
    new = [
        {"entry_id": entry_id, "category": slug, **columns(entry_id, slug)}
        for entry_id, slug in sorted(wanted - before)
    ]
    if new:
        connection.execute(dialects.insert(connection, table).on_conflict_do_nothing(), new)
    return set(before ^ wanted)
