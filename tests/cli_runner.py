"""Run the command line in the test's own process: `main()` as the console script calls it.

Faster than `run_feedhub` (no interpreter start-up), with the same one-line
errors and exit codes, since those come from `main()` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from feedhub.app.cli import main


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def invoke(capsys: pytest.CaptureFixture[str], *args: str | Path) -> CliResult:
    capsys.readouterr()
    try:
        main([str(arg) for arg in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
