"""What every command of the command line needs: the config file, loaded on demand, and a hub."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from feedhub.app.hub import Hub
from feedhub.config.settings import Settings, load_config
from feedhub.store.facade import Store


class Context:
    """What every command needs: the config file's path, loaded on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def settings(self) -> Settings:
        return load_config(self.path)

    @contextmanager
    def hub(self) -> Iterator[Hub]:
        settings = self.settings()
        store = Store.open(settings.hub.database)
        hub = Hub(settings, store)
        try:
            yield hub
        finally:
            hub.close()
            store.close()
