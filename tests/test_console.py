"""The `feedhub` console script: its entry point loads nothing heavy until it runs, since
spawned parsing workers import the script that started their parent."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from tests.conftest import run_feedhub


def test_the_console_script_enters_through_the_light_module() -> None:
    [script] = [ep for ep in entry_points(group="console_scripts") if ep.name == "feedhub"]
    assert script.value == "feedhub.console:main"


def test_importing_the_entry_point_loads_no_part_of_the_hub() -> None:
    probe = (
        "import sys, feedhub.console\n"
        "heavy = {'feedhub.app.cli', 'sqlalchemy', 'pydantic', 'requests', 'feedgen',"
        " 'feedparser'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_the_entry_point_runs_the_command_line() -> None:
    probe = "import sys; sys.argv = ['feedhub', '--version']; import feedhub.console as c; c.main()"
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert ran.returncode == 0
    assert ran.stdout.strip() == run_feedhub("--version").stdout.strip()
    assert ran.stdout.startswith("feedhub")
