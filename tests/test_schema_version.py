"""The schema check that spares every command loading alembic when the store is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from feedhub.store.facade import Store
from feedhub.store.schema_version import MIGRATIONS, is_current, migration_heads
from tests.conftest import ROOT


def test_the_heads_read_from_the_files_are_alembics() -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert migration_heads() == set(ScriptDirectory.from_config(config).get_heads())


def test_heads_follow_branches_and_merges(tmp_path: Path) -> None:
    migrations = {
        "0001_a.py": 'revision = "0001"\ndown_revision = None\n',
        "0002_b.py": 'revision: str = "0002"\ndown_revision: str | None = "0001"\n',
        "0003_c.py": 'revision = "0003"\ndown_revision = "0001"\n',
        "0004_d.py": 'revision = "0004"\ndown_revision = ("0002", "0003")\n',
        "0005_e.py": 'revision = "0005"\ndown_revision = "0001"\n',
        "__init__.py": "",
    }
    for name, text in migrations.items():
        (tmp_path / name).write_text(f'"""A migration."""\n\n{text}')
    assert migration_heads(tmp_path) == {"0004", "0005"}


def test_a_new_store_is_not_current_and_a_migrated_one_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert not is_current(connection)
    Store.open(url).close()
    with engine.connect() as connection:
        assert is_current(connection)
    engine.dispose()


def test_opening_a_current_store_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    Store.open(url).close()
    probe = (
        "import sys\nfrom feedhub.store.facade import Store\n"
        f"Store.open({url!r}).close()\nprint(sorted(m for m in sys.modules if 'alembic' in m))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
