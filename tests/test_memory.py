"""Large blocks go back to the system when freed (glibc), so a hostile document's memory does
not stay with a daemon for good."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

AFTER_LARGE_BLOCKS = textwrap.dedent(
    """
    import os, sys
    from feedhub.core.memory import return_large_blocks
    if sys.argv[1] == "fixed":
        return_large_blocks()
    body = bytearray(20 << 20)  # a large body, freed: glibc then raises its mmap threshold
    del body
    pieces = [bytearray(1 << 20) for _ in range(30)]  # then 30 MB in 1 MB blocks, freed
    del pieces
    with open("/proc/self/statm") as statm:
        print(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    """
)


def resident_after(mode: str) -> int:
    child = subprocess.run(
        [sys.executable, "-c", AFTER_LARGE_BLOCKS, mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return int(child.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_large_blocks_leave_the_process() -> None:
    assert resident_after("fixed") < resident_after("default") - (20 << 20)
