"""Runs one command from a small process and reports its wall time and rusage as JSON.

Usage: python benchmarks/launch.py REPORT.json COMMAND...

Linux starts a child's `ru_maxrss` from the memory of the process that forked it,
so a command forked straight from the benchmark driver (which holds the corpus)
would report the driver's size. Forked from this small process instead, the
child's `ru_maxrss` (read with getrusage(RUSAGE_CHILDREN): it is the only child)
is its own. Kept to the standard library and run by path, so it stays small.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    """Run the command to its end and write the report; exit with the command's code."""
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    report, command = argv[0], argv[1:]
    started = time.perf_counter()
    returncode = subprocess.call(command)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(report, "w", encoding="utf-8") as out:
        json.dump(
            {
                "wall_s": wall,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "max_rss": usage.ru_maxrss * 1024,
                "returncode": returncode,
            },
            out,
        )
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
