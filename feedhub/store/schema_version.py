"""Whether a store's schema is current, answered without loading alembic.

Loading alembic costs every command a tenth of a second and ten megabytes,
while the schema changes only when feedhub is upgraded. So the migrations'
revision ids and parents are read from their files (the `revision =` and
`down_revision =` lines alembic's template writes), and a store is current
when its `alembic_version` rows are exactly their heads. Only when it is not
does `feedhub.store.facade` load alembic, which decides and migrates on its own
reading of the same files.
"""

from __future__ import annotations

import ast
import re
from importlib.resources import files
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MIGRATIONS = Path(str(files("feedhub.store") / "migrations"))
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def migration_heads(versions: Path = MIGRATIONS / "versions") -> frozenset[str]:
    """The revisions no other migration builds on: what an up-to-date store records."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        revisions.add(ast.literal_eval(found["revision"]))
        down = ast.literal_eval(found.get("down_revision", "None"))
        parents.update(down if isinstance(down, tuple | list) else [down] if down else [])
    return frozenset(revisions - parents)


def stored_heads(connection: Connection) -> frozenset[str]:
    """The revisions the store was last migrated to (none for a new store)."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return frozenset()
    rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
    return frozenset(rows.scalars())


def is_current(connection: Connection) -> bool:
    """Whether the store needs no migration."""
    heads = migration_heads()
    return bool(heads) and stored_heads(connection) == heads
