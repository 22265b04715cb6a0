"""Contender "reader": the `reader` library (PyPI `reader`) updating the same feeds.

`update_feeds(workers=16, scheduled=False)` on its own SQLite file: every feed,
every run (reader would otherwise wait for each feed's next scheduled update).
Feeds are added in an unmeasured setup step; entry counts are read in an
unmeasured check step.
"""

from __future__ import annotations

from importlib.util import find_spec

from benchmarks.contenders import run_one_command
from benchmarks.context import Context

NAME = "reader"
SCENARIOS = ("cold", "warm", "changed", "novalidators")
WORKERS = 16
_MODULE = __name__.rsplit(".", 1)[-1]


def unavailable() -> str | None:
    """reader needs `sgmllib3k` too while feedparser is 6.0.x."""
    missing = [name for name in ("reader", "sgmllib") if find_spec(name) is None]
    if missing:
        return (
            f"missing {', '.join(missing)}: pip install 'reader>=3.15,<4' sgmllib3k "
            "(or the feedhub[bench] extra)"
        )
    return None


def prepare(context: Context) -> list[str] | None:
    """Add the feeds in an unmeasured run."""
    return run_one_command(_MODULE, "setup", context)


def command(scenario: str, context: Context) -> list[str]:
    """Run `run()` in a fresh process."""
    return run_one_command(_MODULE, scenario, context)


def check_command(context: Context) -> list[str] | None:
    """Count entries and broken feeds in an unmeasured run."""
    return run_one_command(_MODULE, "check", context)


def run(scenario: str, context: Context) -> dict[str, int]:
    """Set up, update or check, depending on `scenario`."""
    from reader import make_reader

    reader = make_reader(str(context.work_dir / "reader.sqlite"))
    try:
        if scenario == "setup":
            for source in context.sources:
                reader.add_feed(source.url, exist_ok=True)
            return {"feeds": len(context.sources)}
        if scenario == "check":
            return {
                "entries": reader.get_entry_counts().total or 0,
                "errors": sum(1 for _ in reader.get_feeds(broken=True)),
            }
        reader.update_feeds(workers=WORKERS, scheduled=False)
        return {}
    finally:
        reader.close()
