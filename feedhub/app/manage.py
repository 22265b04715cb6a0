"""The commands that manage the source list: `sources add|remove`, `opml import|export`.

They connect feed discovery (`feedhub.app.discover`), OPML (`feedhub.publish.opml`) and
config editing (`feedhub.config.edit`); the config file is the only thing they
change. Refusals (duplicates, unknown categories, URLs that are no feed, answer
4xx or are on a private network without --allow-private-networks) are one line
and exit 2, with nothing written; a URL that cannot be reached now exits 1.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import click

from feedhub.app.context import Context
from feedhub.app.discover import COMMON_PATHS, Discoverer, Discovery, FoundFeed
from feedhub.config.edit import ConfigEditor, NewSource
from feedhub.config.settings import Settings
from feedhub.core.errors import (
    EditRefused,
    FeedhubError,
    HTTPStatusError,
    OpmlError,
    ParseError,
    PrivateAddressRefused,
    SourceError,
    StoreError,
)
from feedhub.core.files import write_atomically
from feedhub.core.text import counted
from feedhub.fetch.client import Fetcher
from feedhub.publish.opml import OpmlSource, local_sources, parse_opml, render_opml
from feedhub.store.facade import Store

log = logging.getLogger(__name__)


@click.command("add")
@click.argument("url")
@click.option("--name", help="The source's name (default: the feed's title).")
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="SLUG",
    help="Send every entry of the source to this category (repeatable).",
)
@click.option("--interval", metavar="DURATION", help='How often to poll it, like "15m".')
@click.option("--no-check", is_flag=True, help="Add the URL as given, without fetching it.")
@click.option(
    "--allow-private-networks",
    "allow_private",
    is_flag=True,
    help="The URL's host is on a loopback or private network (a LAN server): allow it "
    "for this source (allow_private_networks = true).",
)
@click.option(
    "--pick",
    type=click.IntRange(min=1),
    metavar="N",
    help="Of the feeds a web page offers, add the N-th one listed.",
)
@click.pass_obj
def sources_add(
    context: Context,
    url: str,
    name: str | None,
    categories: tuple[str, ...],
    interval: str | None,
    no_check: bool,
    allow_private: bool,
    pick: int | None,
) -> None:
    """Add a source to the config: a feed's URL, or a web page whose feeds are discovered."""
    editor = ConfigEditor(context.path)
    wanted = NewSource(
        editor.written_url(url),
        name,
        categories=categories,
        interval=interval,
        allow_private_networks=allow_private,
    )
    editor.refuse_conflicts(wanted)  # before any fetching
    if no_check:
        if pick is not None:
            raise EditRefused("--pick chooses among the feeds a page offers; drop --no-check")
        added = wanted
    else:
        resolved = editor.resolve(wanted.url)
        private_host = urlsplit(resolved).hostname if allow_private else None
        found, page = _choose(editor.settings, resolved, pick, private_host)
        url_to_write = found.url if page else wanted.url
        added = replace(wanted, url=url_to_write, title=found.title)
    added_name = editor.add_source(added)
    editor.save()
    click.echo(f"added {added_name!r} ({added.url}) to {context.path}")


@click.command("remove")
@click.argument("source", metavar="NAME|URL")
@click.pass_obj
def sources_remove(context: Context, source: str) -> None:
    """Remove a source from the config, by its name or its URL."""
    editor = ConfigEditor(context.path)
    removed = editor.remove_source(source)
    editor.save()
    click.echo(f"removed {removed.name!r} ({removed.url}) from {context.path}")


def _choose(
    settings: Settings, url: str, pick: int | None, private_host: str | None
) -> tuple[FoundFeed, bool]:
    """The feed to add for `url` (itself, or one its page offers) with its document;
    `private_host` may be on a private network."""
    with _discoverer(settings, private_host) as discoverer:
        discovery = _discover(discoverer, url)
        feeds = discovery.feeds
        if not feeds:
            raise EditRefused(_nothing_found(discovery))
        if pick is not None and pick > len(feeds):
            raise EditRefused(f"{url} offers {_count(feeds)}; --pick takes 1 to {len(feeds)}")
        if pick is None and len(feeds) > 1:
            click.echo(f"{url} offers {_count(feeds)}:")
            for number, feed in enumerate(feeds, start=1):
                click.echo(f"  {number}. {feed.url}  {_describe(feed)}")
            raise EditRefused(f"{url} offers {_count(feeds)}; add one with --pick N")
        found = feeds[(pick or 1) - 1]
        if found.document is None:
            try:
                document = discoverer.check(found.url)
            except ParseError as error:
                raise EditRefused(f"{error} (linked from {url}); give a feed's own URL") from None
            except SourceError as error:
                message = f"{error} (linked from {url}); give a feed's own URL"
                raise _refusal(error, message) from None
            found = FoundFeed(found.url, document.title or found.title, found.kind, document)
    if discovery.page:
        click.echo(f"found the feed {found.url} on the page {url}")
    return found, discovery.page


@contextmanager
def _discoverer(settings: Settings, private_host: str | None) -> Iterator[Discoverer]:
    fetcher = Fetcher(settings.fetch)
    try:
        yield Discoverer(
            fetcher, allow_private=settings.fetch.allow_private_networks, private_host=private_host
        )
    finally:
        fetcher.close()


def _discover(discoverer: Discoverer, url: str) -> Discovery:
    try:
        return discoverer.discover(url)
    except SourceError as error:
        raise _refusal(
            error, f"{error}; check the URL, or add it unchecked with --no-check"
        ) from None


def _refusal(error: SourceError, message: str) -> FeedhubError:
    """Exit 2 for what trying again will not change (4xx: the URL is wrong), else 1."""
    if isinstance(error, PrivateAddressRefused):
        return EditRefused(f"{error}; if it is yours, add it with --allow-private-networks")
    # 408 (a timeout) and 429 (too many requests) pass; other 4xx say the URL is wrong.
    if isinstance(error, HTTPStatusError) and 400 <= error.status < 500:
        return FeedhubError(message) if error.status in (408, 429) else EditRefused(message)
    return FeedhubError(message)


def _nothing_found(discovery: Discovery) -> str:
    if discovery.page:
        return (
            f"{discovery.url} is a web page that declares no feed, and there is none at "
            f"{', '.join(COMMON_PATHS)}; give the URL of the feed itself"
        )
    return f"{discovery.problem}; give the URL of an RSS, Atom or JSON Feed, or use --no-check"


def _count(feeds: tuple[FoundFeed, ...]) -> str:
    return f"{len(feeds)} feed" + ("s" if len(feeds) != 1 else "")


def _describe(feed: FoundFeed) -> str:
    kind = f"({feed.kind}) " if feed.kind else ""
    return f"{kind}{feed.title or ''}".strip()


# --- OPML -------------------------------------------------------------------


@click.group()
def opml() -> None:
    """Import sources from, or export them to, an OPML subscription list."""


@opml.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--category",
    "category",
    metavar="SLUG",
    help="Put every imported source in this category instead of its outline group's.",
)
@click.pass_obj
def opml_import(context: Context, file: Path, category: str | None) -> None:
    """Merge an OPML file's feeds into the config; outline groups become categories."""
    editor = ConfigEditor(context.path)
    if category is not None:
        editor.refuse_unknown_categories((category,))
    try:
        listed = parse_opml(file.read_bytes())
    except OpmlError as error:
        raise EditRefused(f"{file}: {error}") from None
    groups: dict[str, list[OpmlSource]] = {}  # a feed listed in several groups is one source
    for item in listed:
        groups.setdefault(item.url, []).append(item)
    known_categories = set(editor.categories)
    added = 0
    for url, items in groups.items():
        if urlsplit(url).scheme not in ("http", "https"):
            click.echo(f"skipped {url}: only http(s) feeds are imported")
        elif existing := editor.source_with_url(url):
            click.echo(f"skipped {url}: already a source ({existing.name!r})")
        else:
            slugs = (category,) if category else _categories(editor, items)
            editor.add_source(NewSource(url, title=items[0].title, categories=slugs))
            added += 1
    editor.save()
    for slug in [slug for slug in editor.categories if slug not in known_categories]:
        click.echo(f"added the category {slug!r} ({editor.categories[slug]})")
    click.echo(f"imported {added} of the {len(groups)} feeds in {file} into {context.path}")


def _categories(editor: ConfigEditor, items: list[OpmlSource]) -> tuple[str, ...]:
    """The categories of the groups a feed is listed in, added to the config when new."""
    slugs = (
        editor.category_for(item.category or item.category_slug or "", item.category_slug)
        for item in items
        if item.category or item.category_slug
    )
    return tuple(dict.fromkeys(slugs))


@opml.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def opml_export(context: Context, file: Path | None) -> None:
    """Write the sources as OPML 2.0 to FILE, or to standard output; local files are left
    out (their paths mean nothing to another reader), and the command says so."""
    settings = context.settings()
    document = render_opml(settings, _site_links(settings))
    left_out = local_sources(settings)
    if file is None:
        sys.stdout.buffer.write(document)
    else:
        write_atomically(file, document)
        written = len(settings.sources) - len(left_out)
        click.echo(f"wrote {written} of {counted(len(settings.sources), 'source')} to {file}")
    if left_out:
        names = ", ".join(repr(source.name) for source in left_out)
        click.echo(
            f"left out {counted(len(left_out), 'local file')} ({names}): a path on this machine "
            "means nothing to another reader; the hub's own feeds carry their entries",
            err=file is None,
        )


def _site_links(settings: Settings) -> dict[str, str]:
    """The sources' web sites as their feeds named them, if the store can tell."""
    try:
        store = Store.open(settings.hub.database)
    except StoreError as error:
        log.warning("%s; the export lists no web sites (htmlUrl)", error)
        return {}
    try:
        return store.site_links()
    finally:
        store.close()
