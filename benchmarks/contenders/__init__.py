"""The contenders: what each one must provide, and how to load one by name.

A contender is a module. In the parent (the benchmark driver) it says whether it
can run, prepares its folder and names the command to measure for each scenario;
contenders written in Python also provide `run(scenario, context)`, which
`python -m benchmarks.run_one` calls in a fresh subprocess so that the measured
numbers belong to that contender alone.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Protocol, cast

from benchmarks.context import Context

REPO = Path(__file__).resolve().parents[2]

# In the order they run, since each scenario starts from the state the previous one left:
# cold (every entry new), warm (every feed answers 304), changed (some feeds have new
# entries, the others answer 304), novalidators (no ETag/Last-Modified, same bodies),
# publish (write every category's documents).
SCENARIOS = ("cold", "warm", "changed", "novalidators", "publish")
MODULES = ("lower_bound", "reader_lib", "feedhub_hub")


class Contender(Protocol):
    """The parent-side face of a contender module."""

    NAME: str
    SCENARIOS: tuple[str, ...]

    def unavailable(self) -> str | None:
        """Why this contender cannot run here, or None when it can."""

    def prepare(self, context: Context) -> list[str] | None:
        """Set up its folder; returns a setup command to run unmeasured, if any."""

    def command(self, scenario: str, context: Context) -> list[str]:
        """The command whose run is measured for `scenario`."""

    def check_command(self, context: Context) -> list[str] | None:
        """An unmeasured command printing a JSON object of sanity counts, if any."""


def load(module: str) -> Contender:
    """The contender module `benchmarks.contenders.<module>`."""
    return cast(Contender, importlib.import_module(f"{__name__}.{module}"))


def environment() -> dict[str, str]:
    """This environment, with the repository first on PYTHONPATH (for `python -m ...`)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def run_one_command(module: str, scenario: str, context: Context) -> list[str]:
    """The command that runs a Python contender's `run(scenario, context)` in a subprocess."""
    return [sys.executable, "-m", "benchmarks.run_one", module, scenario, str(context.path)]
