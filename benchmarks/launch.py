"""Runs one command from a small process and reports its wall time and rusage as JSON.

Usage: python benchmarks/launch.py REPORT.json COMMAND...

Linux starts a child's `ru_maxrss` from the memory of the process that forked it,
so a command forked straight from the benchmark driver (which holds the corpus)
would report the driver's size. Forked from this small process instead, the
child's `ru_maxrss` (read with getrusage(RUSAGE_CHILDREN): it is the only child)
is its own. Kept to the standard library and run by path, so it stays small.

The launcher is also a child subreaper (Linux prctl): a descendant the command
leaves behind without waiting for it (a multiprocessing forkserver or resource
tracker, which outlive their parent by a moment) is adopted and waited for here,
so its CPU time, and that of the processes it waited for, is counted too.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def main(argv: list[str]) -> int:
    """Run the command to its end and write the report; exit with the command's code."""
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    report, command = argv[0], argv[1:]
    adopt_orphans()
    started = time.perf_counter()
    returncode = subprocess.call(command)
    wall = time.perf_counter() - started
    wait_for_orphans()
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


def adopt_orphans() -> None:
    """Become the reaper of our orphaned descendants (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return


def wait_for_orphans() -> None:
    """Wait for every adopted descendant to end, so getrusage counts it."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
