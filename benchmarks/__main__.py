"""Runs every scenario for every available contender on one corpus and one server; prints the table.

    python -m benchmarks [--feeds 200] [--entries 50] [--latency 0.05] [--repeat 5] [--quick]

One corpus, one server farm (20 loopback hosts), one run: each contender gets a
fresh folder under benchmarks/_work/run/ (--work) and runs the scenarios in order (cold,
warm, changed, novalidators, publish), each in a fresh measured subprocess (cron
mode). Then daemon mode (`benchmarks/daemon.py`): reader and feedhub each in one live
process, a warm tick and a changed tick measured inside it. The table gives wall
time, CPU time, peak RSS, what the server answered, and wall-time ratios against
reader and against the lower bound. With --repeat N, all of it runs N times in rounds
(every contender once per round, so a slow spell of the machine hits all of them) and
each row is the run with the median wall time, its note giving the range.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import corpus, daemon, report
from benchmarks.contenders import MODULES, REPO, SCENARIOS, Contender, environment, load
from benchmarks.context import Context, Source
from benchmarks.measure import measure_command
from benchmarks.report import Row
from benchmarks.server import Farm, Site, loopback_hosts, serving

WORK = REPO / "benchmarks" / "_work" / "run"
QUICK = {"feeds": 5, "entries": 5, "latency": 0.0}


@dataclass(frozen=True, slots=True)
class Options:
    """The command line, resolved."""

    feeds: int
    entries: int
    latency: float
    hosts: int
    seed: int
    changed: float
    contenders: tuple[str, ...]
    timeout: float
    json: Path | None
    work: Path
    repeat: int


class Bench:
    """The corpus as served, and the server state each scenario starts from."""

    def __init__(self, feeds: list[corpus.Feed], farm: Farm, options: Options) -> None:
        self.feeds = feeds
        self.farm = farm
        self.urls = {feed.index: farm.url(feed.index, feed.path) for feed in feeds}
        self._changed = corpus.changed_indexes(len(feeds), options.changed, options.seed)
        self._new_entries = max(1, options.entries // 10)

    def sources(self) -> tuple[Source, ...]:
        """Every feed as a source."""
        return tuple(Source(self.urls[f.index], f.path.strip("/")) for f in self.feeds)

    def reset(self) -> None:
        """The original bodies, validators on."""
        for feed in self.feeds:
            self._serve(feed)
        self.farm.site.validators = True

    def stage(self, scenario: str) -> None:
        """Move the server from the previous scenario's state to `scenario`'s."""
        if scenario == "changed":
            for index in self._changed:
                self._serve(corpus.with_new_entries(self.feeds[index], self._new_entries))
        elif scenario == "novalidators":
            self.farm.site.validators = False

    def size(self) -> int:
        """The corpus size in bytes."""
        return sum(len(corpus.render(feed, self.urls[feed.index])) for feed in self.feeds)

    def _serve(self, feed: corpus.Feed) -> None:
        body = corpus.render(feed, self.urls[feed.index])
        self.farm.site.put(feed.path, body, feed.content_type, feed.modified)


def parse_options(argv: Sequence[str] | None) -> Options:
    """Read the command line; --quick sets a tiny corpus and no latency."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--hosts", type=int, default=20, help="loopback hosts 127.0.0.2...")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--changed", type=float, default=0.1, help="share of changed feeds")
    parser.add_argument("--contenders", default=",".join(MODULES), help="modules to run")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--work", type=Path, default=WORK, help="scratch folder (emptied first)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; rows are medians")
    parser.add_argument("--quick", action="store_true", help="5 feeds x 5 entries, no latency")
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    return Options(
        feeds=args.feeds,
        entries=args.entries,
        latency=args.latency,
        hosts=min(args.hosts, args.feeds),
        seed=args.seed,
        changed=args.changed,
        contenders=tuple(name.strip() for name in args.contenders.split(",") if name.strip()),
        timeout=args.timeout,
        json=args.json,
        work=args.work.resolve(),
        repeat=max(1, args.repeat),
    )


def run_round(bench: Bench, options: Options) -> list[Row]:
    """Every contender in cron mode, then in daemon mode."""
    rows = [row for module in options.contenders for row in run_contender(module, bench, options)]
    return rows + [
        row
        for module in options.contenders
        if module in daemon.MODULES
        for row in run_daemon(module, bench, options)
    ]


def run_contender(module: str, bench: Bench, options: Options) -> list[Row]:
    """Every scenario of one contender, from a fresh folder and the original corpus."""
    contender = load(module)
    reason = contender.unavailable()
    if reason is not None:
        return [Row(contender.NAME, "-", problem=f"skipped: {reason}")]
    work_dir = options.work / module
    shutil.rmtree(work_dir, ignore_errors=True)  # each round starts cold
    context = Context(work_dir, bench.sources(), corpus.LABELS, max_entries=options.entries)
    context.save()
    bench.reset()
    setup = contender.prepare(context)
    if setup is not None and (problem := _run_unmeasured(setup, work_dir / "setup.log")):
        return [Row(contender.NAME, "setup", problem=problem)]
    rows = []
    for scenario in (s for s in SCENARIOS if s in contender.SCENARIOS):
        bench.stage(scenario)
        rows.append(measure_scenario(contender, scenario, context, bench.farm.site, options))
        _progress(rows[-1])
    return rows


def run_daemon(module: str, bench: Bench, options: Options) -> list[Row]:
    """Daemon mode (`benchmarks/daemon.py`): ticks of one live process, from a fresh folder."""
    contender = load(module)
    if contender.unavailable() is not None:
        return []  # its cron-mode row says why
    shutil.rmtree(options.work / f"daemon-{module}", ignore_errors=True)
    context = Context(
        options.work / f"daemon-{module}",
        bench.sources(),
        corpus.LABELS,
        max_entries=options.entries,
    )
    context.save()
    bench.reset()
    live = daemon.Daemon(module, context, REPO, environment())
    rows = []
    try:
        live.tick()  # cold: fills the store
        for scenario in daemon.SCENARIOS:
            bench.stage(scenario.removeprefix("daemon "))
            bench.farm.site.reset_counters()
            measurement, counts = live.tick()
            rows.append(
                Row(contender.NAME, scenario, measurement, bench.farm.site.counters(), counts)
            )
            _progress(rows[-1])
    finally:
        live.close()
    return rows


def measure_scenario(
    contender: Contender, scenario: str, context: Context, site: Site, options: Options
) -> Row:
    """One measured run, with what the server answered and what the contender counted."""
    log = context.work_dir / f"{scenario}.log"
    site.reset_counters()
    measurement = measure_command(
        contender.command(scenario, context),
        cwd=REPO,
        env=environment(),
        output=log,
        timeout=options.timeout,
    )
    served = site.counters()
    counts = _last_json(log.read_text(encoding="utf-8", errors="replace"))
    check = contender.check_command(context)
    if check is not None:
        counts |= _last_json(_output(check))
    problem = None if measurement.returncode == 0 else f"exit {measurement.returncode}: see {log}"
    return Row(contender.NAME, scenario, measurement, served, counts, problem)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table (and write JSON when asked)."""
    options = parse_options(argv)
    shutil.rmtree(options.work, ignore_errors=True)
    options.work.mkdir(parents=True)
    feeds = corpus.generate(options.feeds, options.entries, options.seed)
    site = Site(latency=options.latency)
    with serving(site, loopback_hosts(options.hosts)) as farm:
        bench = Bench(feeds, farm, options)
        title = _title(options, bench.size())
        print(title, file=sys.stderr, flush=True)
        rows = report.medians([run_round(bench, options) for _ in range(options.repeat)])
    print(report.table(rows, title))
    if options.json is not None:
        report.write_json(rows, _settings(options), options.json)
    return 0


def _title(options: Options, size: int) -> str:
    return (
        f"{options.feeds} feeds x {options.entries} entries ({size / 1e6:.1f} MB), "
        f"latency {options.latency * 1000:g} ms, {options.hosts} hosts, "
        f"{options.changed:.0%} changed; {os.cpu_count()} CPUs, "
        f"{'median of ' + str(options.repeat) + ' runs, ' if options.repeat > 1 else ''}"
        f"Python {platform.python_version()}"
    )


def _settings(options: Options) -> dict[str, object]:
    return {
        **{name: getattr(options, name) for name in Options.__dataclass_fields__},
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.platform(),
    }


def _run_unmeasured(argv: list[str], log: Path) -> str | None:
    """Run a setup command; a problem line if it fails."""
    with log.open("wb") as sink:
        done = subprocess.run(
            argv, cwd=REPO, env=environment(), stdout=sink, stderr=subprocess.STDOUT, check=False
        )
    return None if done.returncode == 0 else f"setup exit {done.returncode}: see {log}"


def _output(argv: list[str]) -> str:
    done = subprocess.run(
        argv, cwd=REPO, env=environment(), capture_output=True, text=True, check=False
    )
    return done.stdout


def _last_json(text: str) -> dict[str, object]:
    """The last line of `text` if it is a JSON object (how Python contenders report counts)."""
    lines = text.strip().splitlines()
    try:
        value = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _progress(row: Row) -> None:
    m = row.measurement
    wall = f"{m.wall_s:.2f} s" if m is not None else "-"
    print(f"  {row.contender} {row.scenario}: {wall} {row.problem or ''}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
