"""Daemon mode: a tick of a live feedhub against a tick of a live reader, start-up excluded.

`python -m benchmarks` runs this after the cron-mode contenders. Each of the two
contenders runs in one long-lived process (`python -m benchmarks.daemon <contender>
<context.json>`) that sets up once (reader: `make_reader` and `add_feed` for every
feed; feedhub: the config loaded, the store opened, a `Hub`), then reads `tick`
lines from stdin and answers each with one JSON line: the tick measured in that
process (`benchmarks.measure.measure_callable`: wall time, CPU with the children
it waited for, the process tree's peak RSS and PSS). A tick is
`reader.update_feeds(workers=16, scheduled=False)` for reader and
`Hub.run_once(everything=True)` for feedhub (every source polled, as reader's
`scheduled=False`, then what changed republished, as the daemon does).

The driver stages the server between ticks: the first tick (cold) fills the
store unmeasured in the table; `daemon warm` is a tick where every feed answers
304, `daemon changed` one where 10% of the feeds have new entries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import IO

from benchmarks.context import Context
from benchmarks.measure import Measurement, measure_callable

MODULES = {"reader_lib": "reader", "feedhub_hub": "feedhub"}
SCENARIOS = ("daemon warm", "daemon changed")
READER_WORKERS = 16
Tick = Callable[[], dict[str, int]]


@contextmanager
def reader_ticks(context: Context) -> Iterator[Tick]:
    """reader with every feed added; a tick updates them all."""
    from reader import make_reader

    reader = make_reader(str(context.work_dir / "reader.sqlite"))
    for source in context.sources:
        reader.add_feed(source.url, exist_ok=True)

    def tick() -> dict[str, int]:
        reader.update_feeds(workers=READER_WORKERS, scheduled=False)
        return {"entries": reader.get_entry_counts().total or 0}

    try:
        yield tick
    finally:
        reader.close()


@contextmanager
def feedhub_ticks(context: Context) -> Iterator[Tick]:
    """A hub on the benchmark's config; a tick polls every source and republishes."""
    from benchmarks.contenders import feedhub_hub
    from feedhub.app.hub import Hub
    from feedhub.config.settings import load_config
    from feedhub.store.facade import Store

    feedhub_hub.prepare(context)
    settings = load_config(feedhub_hub.config_path(context))
    hub = Hub(settings, Store.open(settings.hub.database))
    hub.sync_sources()

    def tick() -> dict[str, int]:
        summary = hub.run_once(everything=True)
        return {"polled": summary.polled, "new": summary.new_entries}

    try:
        yield tick
    finally:
        hub.close()


TICKS = {"reader_lib": reader_ticks, "feedhub_hub": feedhub_ticks}


def serve(module: str, context: Context, commands: IO[str], answers: IO[str]) -> None:
    """Set up `module`'s contender, then answer each `tick` line with its measurement."""
    with TICKS[module](context) as tick:
        print(json.dumps({"ready": True}), file=answers, flush=True)
        for line in commands:
            if line.strip() != "tick":
                break
            counts, measurement = measure_callable(tick)
            answer = {"measurement": asdict(measurement), "counts": counts}
            print(json.dumps(answer), file=answers, flush=True)


class Daemon:
    """The driver's handle on one contender's live process."""

    def __init__(self, module: str, context: Context, cwd: Path, env: dict[str, str]) -> None:
        log = (context.work_dir / "daemon.log").open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.daemon", module, str(context.path)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        self._answer()  # ready

    def tick(self) -> tuple[Measurement, dict[str, object]]:
        """One measured tick."""
        assert self._process.stdin is not None
        self._process.stdin.write("tick\n")
        self._process.stdin.flush()
        answer = self._answer()
        return Measurement(**answer["measurement"]), dict(answer["counts"])

    def close(self) -> None:
        """Stop the process (closing its stdin ends its loop)."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)

    def _answer(self) -> dict[str, object]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(timeout=60)
            raise RuntimeError(f"the daemon exited ({self._process.returncode}); see daemon.log")
        answer = json.loads(line)
        assert isinstance(answer, dict)
        return answer


def main(argv: list[str]) -> int:
    """`python -m benchmarks.daemon <contender module> <context.json>`."""
    module, context_path = argv
    serve(module, Context.load(Path(context_path)), sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
