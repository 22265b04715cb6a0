"""Measures one run: wall time, CPU time (user + sys, children included) and peak memory.

Peak memory is measured three ways:
- `peak_rss`: the sum of the RSS of the whole process tree, sampled every ~20 ms
  with psutil (shared copy-on-write pages of forked workers count once per process,
  so this errs high; a peak shorter than the interval can be missed);
- `peak_pss`: the same samples' sum of PSS, where a page shared by n processes
  counts 1/n in each: the tree's real footprint;
- `max_rss`: the kernel's `ru_maxrss` (getrusage RUSAGE_CHILDREN in `launch.py`):
  the largest single process of the tree (the command and the descendants it
  waited for), exact but not a sum.
A subprocess is the preferred unit: the numbers then belong to that run alone.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import psutil

T = TypeVar("T")
LAUNCHER = Path(__file__).with_name("launch.py")
SAMPLE_INTERVAL = 0.02


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one run cost."""

    wall_s: float
    cpu_s: float
    peak_rss: int  # bytes, sum over the sampled process tree
    peak_pss: int  # bytes, sum over the sampled process tree
    max_rss: int  # bytes, largest single process (ru_maxrss)
    returncode: int = 0


class TreeSampler:
    """Samples the summed RSS and PSS of a process and all its descendants on a thread."""

    def __init__(self, pid: int, *, root: bool = True, interval: float = SAMPLE_INTERVAL) -> None:
        self.peak_rss = 0
        self.peak_pss = 0
        self._pid = pid
        self._root = root
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        try:
            rss, pss = tree_memory(psutil.Process(self._pid), root=self._root)
        except psutil.NoSuchProcess:
            return
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)


def tree_memory(top: psutil.Process, *, root: bool = True) -> tuple[int, int]:
    """The summed RSS and PSS of `top` (unless not `root`) and its descendants now."""
    try:
        processes = ([top] if root else []) + top.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    rss = pss = 0
    for process in processes:
        try:
            memory = process.memory_full_info()
        except psutil.NoSuchProcess:  # zombies included
            continue
        rss += memory.rss
        pss += memory.pss
    return rss, pss


def measure_command(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    output: Path | None = None,
    timeout: float | None = None,
) -> Measurement:
    """Run `argv` to its end and measure it; its stdout and stderr go to `output`.

    The command runs under `launch.py` (see there why); the sampled tree is the
    launcher's descendants, not the launcher itself.
    """
    with tempfile.TemporaryDirectory(prefix="feedhub-bench-") as scratch:
        report = Path(scratch) / "report.json"
        launcher = [sys.executable, str(LAUNCHER), str(report), *argv]
        with _sink(output) as sink:
            process = subprocess.Popen(
                launcher,
                cwd=cwd,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            with TreeSampler(process.pid, root=False) as sampler, _deadline(process.pid, timeout):
                returncode = process.wait()
        if not report.exists():  # killed by the deadline
            return Measurement(
                timeout or 0.0, 0.0, sampler.peak_rss, sampler.peak_pss, 0, returncode
            )
        launched = json.loads(report.read_text(encoding="utf-8"))
    return Measurement(
        wall_s=launched["wall_s"],
        cpu_s=launched["cpu_s"],
        peak_rss=sampler.peak_rss,
        peak_pss=sampler.peak_pss,
        max_rss=launched["max_rss"],
        returncode=launched["returncode"],
    )


@contextmanager
def _sink(output: Path | None) -> Iterator[IO[bytes] | int]:
    if output is None:
        yield subprocess.DEVNULL
        return
    with output.open("wb") as sink:
        yield sink


def measure_callable(function: Callable[[], T]) -> tuple[T, Measurement]:
    """Call `function` in this process and measure it.

    CPU includes the children it waited for; `max_rss` is this process's lifetime
    peak (children not included), so a fresh subprocess (`measure_command`) is the
    fairer unit.
    """
    before = _cpu_now()
    started = time.perf_counter()
    with TreeSampler(os.getpid()) as sampler:
        result = function()
    wall = time.perf_counter() - started
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cpu = _cpu_now() - before
    return result, Measurement(wall, cpu, sampler.peak_rss, sampler.peak_pss, max_rss)


def _cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def _deadline(pid: int, timeout: float | None) -> Iterator[None]:
    """Kill the process group of `pid` if the block outlives `timeout` seconds."""
    if timeout is None:
        yield
        return
    timer = threading.Timer(timeout, _kill_group, args=(pid,))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
