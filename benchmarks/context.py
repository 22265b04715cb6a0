"""What a contender run needs to know, written to a JSON file that its subprocess reads back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

# feedhub's own defaults are looked up in the driver only: the contenders' processes read
# the saved values, so importing feedhub costs them nothing.


def fetch_default(name: str) -> Callable[[], int]:
    """feedhub's default `[fetch]` value of `name`."""

    def default() -> int:
        from feedhub.config.settings import FetchSettings

        return int(getattr(FetchSettings(), name))

    return default


def parse_processes() -> int:
    """The lower bound's parsing processes: one per core (feedhub starts one fewer)."""
    from feedhub.parse.pool import cores

    return cores()


@dataclass(frozen=True, slots=True)
class Source:
    """One feed to poll."""

    url: str
    name: str


@dataclass(frozen=True, slots=True)
class Context:
    """The sources, the category labels and the limits every contender uses alike."""

    work_dir: Path  # the contender's own folder: its store, its logs
    sources: tuple[Source, ...]
    labels: tuple[str, ...]
    max_entries: int = 50
    # The lower bound fetches and parses with feedhub's own defaults, whatever they become.
    concurrency: int = field(default_factory=fetch_default("concurrency"))
    per_host: int = field(default_factory=fetch_default("per_host"))
    parse_processes: int = field(default_factory=parse_processes)
    timeout: float = 30.0
    user_agent: str = "feedhub-benchmark/0.1"

    @property
    def path(self) -> Path:
        """Where this context is saved."""
        return self.work_dir / "context.json"

    def save(self) -> Path:
        """Write the context to `self.path` and return that path."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["work_dir"] = str(self.work_dir)
        self.path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return self.path

    @classmethod
    def load(cls, path: Path) -> Context:
        """Read a context written by `save`."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            work_dir=Path(data["work_dir"]),
            sources=tuple(Source(**source) for source in data["sources"]),
            labels=tuple(data["labels"]),
            max_entries=data["max_entries"],
            concurrency=data["concurrency"],
            per_host=data["per_host"],
            parse_processes=data["parse_processes"],
            timeout=data["timeout"],
            user_agent=data["user_agent"],
        )
