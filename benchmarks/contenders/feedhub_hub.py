"""Contender "feedhub": our own pipeline, driven through its command line like an operator would.

The benchmark writes a config TOML for the corpus (twenty categories matching the
corpus labels, every feed a source, private networks allowed since the corpus is
served from loopback), then measures `python -m feedhub --config PATH run --once --all`
for the update scenarios and `... publish` for the publish scenario.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from benchmarks.contenders import REPO
from benchmarks.context import Context

NAME = "feedhub"
SCENARIOS = ("cold", "warm", "changed", "novalidators", "publish")
TomlValue = str | int | float | bool | list[str]


def unavailable() -> str | None:
    """None once `python -m feedhub` offers `run --once --all` and `publish`."""
    for subcommand, needed in (("run", ("--once", "--all")), ("publish", ())):
        probe = subprocess.run(
            [sys.executable, "-m", "feedhub", subcommand, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if probe.returncode != 0 or not all(option in probe.stdout for option in needed):
            last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
            return f"feedhub CLI not ready: `python -m feedhub {subcommand} --help` says: {last}"
    return None


def prepare(context: Context) -> list[str] | None:
    """Write the config; nothing to run."""
    config_path(context).write_text(config_toml(context), encoding="utf-8")
    return None


def command(scenario: str, context: Context) -> list[str]:
    """The feedhub command line for `scenario`."""
    base = [sys.executable, "-m", "feedhub", "--config", str(config_path(context))]
    return [*base, "publish"] if scenario == "publish" else [*base, "run", "--once", "--all"]


def check_command(context: Context) -> list[str] | None:
    """Count stored entries (a sanity note only; empty if the store is not readable)."""
    return [sys.executable, "-m", "benchmarks.contenders.feedhub_hub", str(database(context))]


def config_path(context: Context) -> Path:
    """Where the benchmark's config file lives."""
    return context.work_dir / "feedhub.toml"


def database(context: Context) -> Path:
    """The SQLite file feedhub stores into."""
    return context.work_dir / "feedhub.sqlite"


def config_toml(context: Context) -> str:
    """The config for this corpus, in the keys feedhub's config documents."""
    sections: list[tuple[str, Mapping[str, TomlValue]]] = [
        (
            "[hub]",
            {
                "title": "feedhub benchmark",
                "base_url": "http://127.0.0.1:8080/",
                "output_dir": str(context.work_dir / "public"),
                "database": f"sqlite:///{database(context)}",
                "max_entries": context.max_entries,
                # The corpus is dated 2024: keep it all, as reader does.
                "keep_days": 36500,
            },
        ),
        (
            "[fetch]",
            {
                "timeout": context.timeout,
                "concurrency": context.concurrency,
                "per_host": context.per_host,
                "user_agent": context.user_agent,
                "allow_private_networks": True,
            },
        ),
        ("[schedule]", {"interval": "30m"}),
    ]
    sections += [
        (f"[categories.{slug(label)}]", {"title": label, "match": [label]})
        for label in context.labels
    ]
    sections += [
        ("[[sources]]", {"url": source.url, "name": source.name}) for source in context.sources
    ]
    return "\n".join(_section(header, values) for header, values in sections)


def slug(label: str) -> str:
    """A category slug for a label: "Defense & Security" -> "defense-security"."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def _section(header: str, values: Mapping[str, TomlValue]) -> str:
    return "\n".join([header, *_pairs(values)]) + "\n"


def _pairs(values: Mapping[str, TomlValue]) -> Iterator[str]:
    # JSON strings, numbers, booleans and string arrays are valid TOML values.
    for key, value in values.items():
        yield f"{key} = {json.dumps(value)}"


def count_entries(path: Path) -> dict[str, int]:
    """Entries in feedhub's store, or nothing when it cannot be read."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            (entries,) = connection.execute("SELECT count(*) FROM entries").fetchone()
    except sqlite3.Error:
        return {}
    return {"entries": int(entries)}


if __name__ == "__main__":
    print(json.dumps(count_entries(Path(sys.argv[1]))))
