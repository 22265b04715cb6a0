"""The `feedhub` command line (click): parse arguments, load the config, call the right step.

Every expected failure ends as one line on stderr, prefixed "feedhub: " (a config
file's problems by the file's path instead, one line each), and an exit code from
the one table in `feedhub.app.exits`. Tracebacks are for bugs only.
The global options (--config, -v, -q) are accepted after the command too.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from feedhub import __version__
from feedhub.app import exits, logs
from feedhub.app.context import Context
from feedhub.app.hub import Hub
from feedhub.app.manage import opml, sources_add, sources_remove
from feedhub.app.table import Column, render, terminal_width
from feedhub.config.settings import (
    Settings,
    SourceSettings,
    config_path,
    resolve_source_url,
)
from feedhub.core.errors import ConfigError, FeedhubError, InputRefused
from feedhub.core.memory import return_large_blocks
from feedhub.parse.docguard import check_expat
from feedhub.store.facade import Store

log = logging.getLogger(__name__)


pass_context = click.make_pass_decorator(Context)


_CONFIG_HELP = "Config file (default: $FEEDHUB_CONFIG, else ./feedhub.toml)."
_VERBOSE_HELP = "Log debugging detail."
_QUIET_HELP = "Log warnings and errors only."


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=exits.help_text())
@click.option(
    "--config", "config", type=click.Path(dir_okay=False, path_type=Path), help=_CONFIG_HELP
)
@click.option("-v", "--verbose", is_flag=True, help=_VERBOSE_HELP)
@click.option("-q", "--quiet", is_flag=True, help=_QUIET_HELP)
@click.version_option(__version__, prog_name="feedhub")
@click.pass_context
def cli(context: click.Context, config: Path | None, verbose: bool, quiet: bool) -> None:
    """feedhub: poll RSS/Atom sources and republish them as one feed per category."""
    logs.configure(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    check_expat()
    return_large_blocks()
    context.obj = Context(config_path(config))


def _config_after(context: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        context.find_object(Context).path = value  # type: ignore[union-attr]


def _level_after(level: int) -> Callable[[click.Context, click.Parameter, bool], None]:
    def set_level(_context: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            logs.configure(level)

    return set_level


def _accept_global_options(group: click.Group) -> None:
    """Let every command take --config, -v and -q after its name too, as `check --config`."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_global_options(command)
            continue
        command.params.append(
            click.Option(
                ["--config"],
                type=click.Path(dir_okay=False, path_type=Path),
                expose_value=False,
                callback=_config_after,
                help=_CONFIG_HELP,
            )
        )
        for names, level, text in (
            (["-v", "--verbose"], logging.DEBUG, _VERBOSE_HELP),
            (["-q", "--quiet"], logging.WARNING, _QUIET_HELP),
        ):
            command.params.append(
                click.Option(
                    names,
                    is_flag=True,
                    expose_value=False,
                    callback=_level_after(level),
                    help=text,
                )
            )


@cli.command()
@click.option("--once", is_flag=True, help="Poll what is due, publish, and exit (for cron).")
@click.option(
    "--all", "everything", is_flag=True, help="With --once: poll every source now, due or not."
)
@pass_context
def run(context: Context, once: bool, everything: bool) -> None:
    """Poll sources and publish: as a daemon, or once with --once."""
    if everything and not once:
        # The daemon polls each source when it is due; "everything now" is a one-off pass.
        raise click.UsageError("--all polls every source once; use it with --once")
    with context.hub() as hub:
        if once:
            from feedhub.app.once import run_once

            sys.exit(run_once(hub, everything=everything))
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
    from feedhub.app.site import metrics_placement, site_documents
    from feedhub.app.websub import serving_websub
    from feedhub.serve.app import server_limits, site_app, start_background_server

    endpoint = metrics_endpoint(hub.store, hub.metrics, hub.clock)
    with (
        metrics_placement(hub.settings, endpoint) as metrics,
        serving_websub(hub.settings, hub.store, hub.clock) as websub,
    ):
        app = site_app(
            hub.settings,
            metrics.for_site,
            site_documents(hub.settings, hub.store),
            websub,
        )
        server, thread = start_background_server(
            app, serve_settings.host, serve_settings.port, limits=server_limits(hub.settings)
        )
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
    from feedhub.app.site import metrics_placement, site_documents
    from feedhub.app.websub import serving_websub
    from feedhub.core.clock import system_clock
    from feedhub.serve.app import serve, server_limits, site_app

    settings = context.settings()
    store = Store.open(settings.hub.database)
    # systemd stops services with SIGTERM: leave the server loop and exit 0, as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        with (
            metrics_placement(settings, metrics_endpoint(store)) as metrics,
            serving_websub(settings, store, system_clock) as websub,
        ):
            serve(
                site_app(settings, metrics.for_site, site_documents(settings, store), websub),
                host or settings.serve.host,
                settings.serve.port if port is None else port,
                limits=server_limits(settings),
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
    """Validate the config file; print each problem on one line, then each warning."""
    from feedhub.config.advice import check_config

    settings, warnings = check_config(context.path)
    for warning in warnings:
        click.echo(f"{context.path}: warning: {warning}", err=True)
    click.echo(
        f"{context.path}: ok ({len(settings.sources)} sources, "
        f"{len(settings.categories)} categories)"
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per source.")
@pass_context
def status(context: Context, as_json: bool) -> None:
    """Show every source's health; exit 1 when any source is failing or gone."""
    from feedhub.app.status import any_troubled, render_json, render_table, source_statuses

    with context.hub() as hub:
        held = {
            claim.url: claim for claim in hub.store.held_sources(hub.clock(), hub.claims.holder)
        }
        states = hub.store.source_states()
        rows = source_statuses(hub.settings, states, held, hub.websub.pushing())
    click.echo(render_json(rows) if as_json else render_table(rows, terminal_width()))
    if any_troubled(rows):
        sys.exit(exits.FAILED)


@cli.group()
def sources() -> None:
    """List and manage the configured sources."""


@sources.command("list")
@pass_context
def sources_list(context: Context) -> None:
    """Print the configured sources: name, URL and categories, under a header."""
    rows = [
        (source.name, source.url, ",".join(source.categories) or "-")
        for source in context.settings().sources
    ]
    click.echo(render(_SOURCE_COLUMNS, rows, terminal_width()))


_SOURCE_COLUMNS = (
    Column("NAME", shrink_to=16),
    Column("URL", shrink_to=32),
    Column("CATEGORIES", shrink_to=12, drop_rank=1),
)


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
    raise InputRefused(
        f"no source is named or has the URL {name_or_url!r}; "
        "see `feedhub sources list` for names and URLs"
    )


_accept_global_options(cli)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turn expected errors into one-line messages and exit codes."""
    try:
        cli.main(args=argv, prog_name="feedhub", standalone_mode=False)
    except InputRefused as error:
        click.echo(f"feedhub: {error}", err=True)
        sys.exit(exits.BAD_INPUT)
    except ConfigError as error:  # each line starts with the file's path, as a compiler's do
        for problem in error.problems:
            click.echo(problem, err=True)
        sys.exit(exits.BAD_INPUT)
    except FeedhubError as error:
        click.echo(f"feedhub: {error}", err=True)
        sys.exit(exits.FAILED)
    except click.exceptions.Abort:  # Ctrl-C at a prompt or before a command took over
        click.echo("feedhub: interrupted", err=True)
        sys.exit(exits.STOPPED + signal.SIGINT)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx else "feedhub"
        click.echo(f"feedhub: {error.format_message()} (see `{command} --help`)", err=True)
        sys.exit(exits.BAD_INPUT)
    except click.ClickException as error:
        click.echo(f"feedhub: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
