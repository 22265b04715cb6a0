"""Process-wide memory behaviour: large blocks go back to the system as soon as they are freed.

A poll holds a few large buffers at a time (fetched bodies up to
`max_decompressed_bytes`, feedparser's copies of them). glibc's malloc raises
its mmap threshold as large blocks are freed, after which such buffers come from
the heap and the memory stays with the process once they are freed: after one
hostile 20 MB document, a daemon would keep that much for good. Fixing the
threshold keeps large blocks in their own mappings, unmapped when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
LARGE_BLOCK = 256 * 1024  # bytes; setting it also stops glibc from raising it


def return_large_blocks() -> None:
    """Map every block of LARGE_BLOCK bytes or more on its own (glibc only; a no-op elsewhere)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl, macOS): their mallocs return large blocks on their own terms
    if not mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK):
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; large blocks stay in the heap")
