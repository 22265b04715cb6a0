"""What a contender run needs to know, written to a JSON file that its subprocess reads back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from feedhub.config import FetchSettings

# The lower bound fetches with feedhub's own default limits, whatever they become.
FETCH_DEFAULTS = FetchSettings()


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
    concurrency: int = FETCH_DEFAULTS.concurrency
    per_host: int = FETCH_DEFAULTS.per_host
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
            timeout=data["timeout"],
            user_agent=data["user_agent"],
        )
