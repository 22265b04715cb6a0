"""Files written whole or not at all: a reader never sees half of one."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def write_atomically(path: Path, body: bytes, mode: int = 0o644) -> bool:
    """Replace `path` with `body` by rename, so no reader sees half a file; False if unchanged."""
    try:
        if path.read_bytes() == body:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.debug("wrote %s (%d bytes)", path, len(body))
    return True
