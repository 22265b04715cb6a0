"""The `feedhub` command line (click): parse arguments, load the config, call the right step.

Every expected failure ends as one line on stderr and a non-zero exit code:
2 for an unusable config, 1 for other errors. Tracebacks are for bugs only.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from feedhub import __version__
from feedhub.app.hub import Hub
from feedhub.app.manage import opml, sources_add, sources_remove
from feedhub.config.settings import (
    Settings,
    SourceSettings,
    config_path,
    load_config,
    resolve_source_url,
)
from feedhub.core.errors import ConfigError, FeedhubError
from feedhub.core.memory import return_large_blocks
from feedhub.core.text import strip_forbidden
from feedhub.parse.docguard import check_expat
from feedhub.store.facade import Store

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
EXIT_ERROR = 1

F = TypeVar("F", bound=Callable[..., Any])


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


pass_context = click.make_pass_decorator(Context)


class TerminalSafeFormatter(logging.Formatter):
    """Log lines reach terminals: whatever a message carries, no control sequence does."""

    def format(self, record: logging.LogRecord) -> str:
        return strip_forbidden(super().format(record)).replace("\r", "")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $FEEDHUB_CONFIG, else ./feedhub.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail.")
@click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only.")
@click.version_option(__version__, prog_name="feedhub")
@click.pass_context
def cli(context: click.Context, config: Path | None, verbose: bool, quiet: bool) -> None:
    """feedhub: poll RSS/Atom sources and republish them as one feed per category."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalSafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # Alembic reports every migration step at INFO; feedhub logs one line per upgrade itself.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    check_expat()
    return_large_blocks()
    context.obj = Context(config_path(config))


@cli.command()
@click.option("--once", is_flag=True, help="Poll what is due, publish, and exit (for cron).")
@click.option("--all", "everything", is_flag=True, help="With --once: poll every source now.")
@pass_context
def run(context: Context, once: bool, everything: bool) -> None:
    """Poll sources and publish: as a daemon, or once with --once."""
    with context.hub() as hub:
        if once:
            hub.sync_sources()
            summary = hub.run_once(everything=everything)
            output = hub.settings.hub.output_dir
            click.echo(
                f"polled {summary.polled} sources ({summary.failed} failing): "
                f"{summary.new_entries} new, {summary.updated_entries} updated entries; "
                f"feeds in {output}"
            )
            return
        from feedhub.app.scheduler import Daemon

        with _serving(hub):
            sys.exit(Daemon(hub).run())


@contextmanager
def _serving(hub: Hub) -> Iterator[None]:
    """Serve the published site from a background thread while the daemon runs, if enabled."""
    serve_settings = hub.settings.serve
    if not serve_settings.enabled:
        yield
        return
    from feedhub.app.metrics import metrics_endpoint
    from feedhub.app.site import site_documents
    from feedhub.serve.app import site_app, start_background_server

    app = site_app(
        hub.settings,
        metrics_endpoint(hub.store, hub.metrics, hub.clock),
        site_documents(hub.settings, hub.store),
    )
    server, thread = start_background_server(app, serve_settings.host, serve_settings.port)
    try:
        yield
    finally:
        server.close()
        thread.join(timeout=10)


@cli.command("serve")
@click.option("--host", help="Address to listen on (default: [serve] host, else 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (default: [serve] port, else 8080).",
)
@pass_context
def serve_command(context: Context, host: str | None, port: int | None) -> None:
    """Serve the published feeds, the front page and /metrics over HTTP until stopped."""
    from feedhub.app.metrics import metrics_endpoint
    from feedhub.app.site import site_documents
    from feedhub.serve.app import serve, site_app

    settings = context.settings()
    store = Store.open(settings.hub.database)
    # systemd stops services with SIGTERM: leave the server loop and exit 0, as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        serve(
            site_app(settings, metrics_endpoint(store), site_documents(settings, store)),
            host or settings.serve.host,
            settings.serve.port if port is None else port,
        )
    finally:
        store.close()
    log.info("server stopped")


def _exit_cleanly(signum: int, _frame: FrameType | None) -> None:
    log.info("received %s", signal.Signals(signum).name)
    raise SystemExit(0)


@cli.command("publish")
@pass_context
def publish_command(context: Context) -> None:
    """Regenerate every published feed from the store."""
    with context.hub() as hub:
        hub.publish_all()
        click.echo(
            f"published {len(hub.settings.categories) + 1} feeds in {hub.settings.hub.output_dir}"
        )


@cli.command()
@pass_context
def check(context: Context) -> None:
    """Validate the config file; print each problem on one line."""
    settings = context.settings()
    click.echo(
        f"{context.path}: ok ({len(settings.sources)} sources, "
        f"{len(settings.categories)} categories)"
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per source.")
@pass_context
def status(context: Context, as_json: bool) -> None:
    """Show every source's health; exit 1 when any source is failing."""
    from feedhub.app.status import any_failing, render_json, render_table, source_statuses

    with context.hub() as hub:
        rows = source_statuses(hub.settings, hub.store.source_states())
    click.echo(render_json(rows) if as_json else render_table(rows))
    if any_failing(rows):
        sys.exit(EXIT_ERROR)


@cli.group()
def sources() -> None:
    """List and manage the configured sources."""


@sources.command("list")
@pass_context
def sources_list(context: Context) -> None:
    """Print the configured sources: name, URL and categories."""
    for source in context.settings().sources:
        categories = ",".join(source.categories) or "-"
        click.echo(f"{source.name}\t{source.url}\t{categories}")


sources.add_command(sources_add)
sources.add_command(sources_remove)
cli.add_command(opml)


@sources.command("retry")
@click.argument("name_or_url")
@pass_context
def sources_retry(context: Context, name_or_url: str) -> None:
    """Poll a source at the next run: one that is gone (410) or backing off after failures."""
    with context.hub() as hub:
        source = _configured_source(hub.settings, name_or_url)
        hub.sync_sources()
        hub.store.retry_source(source.url, hub.clock())
    click.echo(f"{source.name}: will be polled at the next run")


def _configured_source(settings: Settings, name_or_url: str) -> SourceSettings:
    """The source with this name, or else this URL (a local path resolves like the config's)."""
    try:
        url = resolve_source_url(name_or_url, settings.path.parent)
    except ValueError:
        url = name_or_url
    found = next((s for s in settings.sources if s.name == name_or_url), None)
    if found := found or settings.source_by_url(url):
        return found
    raise FeedhubError(
        f"no source is named or has the URL {name_or_url!r}; "
        "see `feedhub sources list` for names and URLs"
    )


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turn expected errors into one-line messages and exit codes."""
    try:
        cli.main(args=argv, prog_name="feedhub", standalone_mode=False)
    except ConfigError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        sys.exit(EXIT_CONFIG)
    except FeedhubError as error:
        click.echo(f"feedhub: {error}", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
