"""Runs one scenario of one Python contender in this (fresh) process; prints its counts as JSON.

Usage: python -m benchmarks.run_one <contender module> <scenario> <context.json>
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

from benchmarks.context import Context

Runner = Callable[[str, Context], Mapping[str, object]]


def main(argv: list[str]) -> int:
    """Run the contender and print one JSON line with what it counted."""
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    module, scenario, context_path = argv
    contender = importlib.import_module(f"benchmarks.contenders.{module}")
    run = cast(Runner, contender.run)
    counts = run(scenario, Context.load(Path(context_path)))
    print(json.dumps(dict(counts), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
