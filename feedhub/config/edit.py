"""Edit the TOML config file in place: add and remove sources, add categories.

The file is edited as a tomlkit document, so everything outside the table that
changes keeps its bytes: comments, order, blank lines, quoting. A new table is
placed right after the last table of its kind (before any comment block that
trails it), removing a source removes its own table only. Nothing is written
until the edited text validates as a whole config; then it replaces the file
atomically, with the file's permissions kept.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Comment, InlineTable, Item, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from feedhub.config.settings import (
    RESERVED_SLUGS,
    Settings,
    SourceSettings,
    default_source_name,
    parse_duration,
    parse_toml,
    read_config_text,
    resolve_source_url,
    unique_name,
    validate_config,
)
from feedhub.core.errors import ConfigError, EditRefused
from feedhub.core.files import write_atomically
from feedhub.core.text import one_line

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class NewSource:
    """A source to add, as the user asked for it."""

    url: str  # as it will be written in the config
    name: str | None = None  # None: `title`, else the URL's host and path, made unique
    title: str | None = None  # the feed's own title, when it was fetched
    categories: tuple[str, ...] = ()
    interval: str | None = None
    allow_private_networks: bool = False  # its own host may be on a private network


def slugify(title: str) -> str:
    """A category slug made from a title: "Defense & Security" -> "defense-security"."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_title.lower()).strip("-") or "category"
    return f"{slug}-feeds" if slug in RESERVED_SLUGS else slug


class ConfigEditor:
    """The config file as an editable document, checked against what it already holds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = read_config_text(path)
        settings = validate_config(parse_toml(text, path), path)
        try:
            self.document: TOMLDocument = tomlkit.parse(text)
        except TOMLKitError as error:
            raise ConfigError(
                [f"{path}: cannot edit this TOML ({error}); fix the syntax"]
            ) from None
        self.settings = settings
        # In document order, so a source's position is its index among the [[sources]] tables.
        self._sources = list(settings.sources)
        # The first source with each URL and name: lookups stay O(1) as an import adds many.
        self._by_url: dict[str, SourceSettings] = {}
        self._by_name: dict[str, SourceSettings] = {}
        for source in self._sources:
            self._index(source)
        self._categories = {slug: c.title for slug, c in settings.categories.items()}

    @property
    def categories(self) -> dict[str, str]:
        """Slug -> title of every category, including those added in this edit."""
        return dict(self._categories)

    def resolve(self, url: str) -> str:
        """`url` as the config will read it (local paths become absolute file: URLs)."""
        try:
            return resolve_source_url(url, self.path.resolve().parent)
        except ValueError as error:
            raise EditRefused(f"{error}") from None

    def written_url(self, url: str) -> str:
        """How to write `url` in the config: a local path given relative to the current
        folder becomes relative to the config's folder (or absolute when outside it)."""
        parts = urlsplit(url.strip())
        if parts.scheme == "file":
            path = Path(url2pathname(parts.path))
        elif parts.scheme == "":
            path = Path(url.strip()).expanduser()
        else:
            return url.strip()
        absolute, folder = path.resolve(), self.path.resolve().parent
        if absolute.is_relative_to(folder):
            return absolute.relative_to(folder).as_posix()
        return os.fspath(absolute)

    def unique_name(self, url: str, preferred: str | None) -> str:
        """`preferred` (a feed's title) or the name config loading gives an unnamed source
        (`default_source_name`), made unique with " (2)", " (3)"..."""
        # A feed's title comes from outside: cleaned here, where it becomes the config's.
        base = one_line(preferred or "") or default_source_name(self.resolve(url))
        return unique_name(base, {source.name for source in self._sources})

    def source_with_url(self, url: str) -> SourceSettings | None:
        """The source that already polls `url` (as written in the config), if one does."""
        return self._by_url.get(self.resolve(url))

    def refuse_conflicts(self, source: NewSource) -> None:
        """Raise EditRefused when `source` duplicates one, or names what does not exist."""
        if existing := self.source_with_url(source.url):
            raise EditRefused(
                f"{existing.url} is already a source ({existing.name!r}); "
                f'remove it first with `feedhub sources remove "{existing.name}"`'
            )
        if source.name is not None and (existing := self._named(source.name)):
            raise EditRefused(
                f"the name {source.name!r} is already used by {existing.url}; "
                "choose another with --name"
            )
        self.refuse_unknown_categories(source.categories)
        if source.interval is not None:
            try:
                parse_duration(source.interval)
            except ValueError as error:
                raise EditRefused(f"interval: {error}") from None

    def refuse_unknown_categories(self, slugs: tuple[str, ...]) -> None:
        for slug in slugs:
            if slug not in self._categories:
                known = ", ".join(sorted(self._categories)) or "none defined yet"
                raise EditRefused(
                    f"unknown category {slug!r}; add [categories.{slug}] to {self.path} "
                    f"or use one of: {known}"
                )

    def add_source(self, source: NewSource) -> str:
        """Append a [[sources]] table (after `refuse_conflicts`); return the source's name."""
        self.refuse_conflicts(source)
        name = source.name or self.unique_name(source.url, source.title)
        values: dict[str, Any] = {"url": source.url, "name": name}
        if source.categories:
            values["categories"] = list(source.categories)
        if source.interval is not None:
            values["interval"] = source.interval
        if source.allow_private_networks:
            values["allow_private_networks"] = True
        self._append("sources", values)
        added = SourceSettings.model_construct(url=self.resolve(source.url), name=name)
        self._sources.append(added)
        self._index(added)
        return name

    def category_for(self, title: str, slug: str | None = None) -> str:
        """The slug of the category with this slug, else this title; added when there is none.

        A new category's slug is `slug` when usable, else made from the title.
        """
        if slug in self._categories:
            return slug
        for known, known_title in self._categories.items():
            if known_title.casefold() == title.casefold():
                return known
        if slug is None or slug in RESERVED_SLUGS:
            slug = slugify(title)
        if slug not in self._categories:
            self._append("categories", {"title": title}, key=slug)
            self._categories[slug] = title
        return slug

    def remove_source(self, name_or_url: str) -> SourceSettings:
        """Remove the source with this name (or else this URL); return what it was.

        Its table goes from its header to its last value; the comments and blank
        lines after that introduce what follows, so they stay.
        """
        found = self._named(name_or_url) or self._with_url_as_given(name_or_url)
        if found is None:
            raise EditRefused(
                f"no source is named or has the URL {name_or_url!r}; "
                "see `feedhub sources list` for names and URLs"
            )
        index = self._sources.index(found)
        container = self.document["sources"]
        if isinstance(container, AoT):
            table = container[index]
            trailing = "".join(item.as_string() for item in _pop_trailing_trivia(table))
            # Mark where the table's own text starts and ends (NUL cannot occur in TOML).
            table.trivia.indent = "\0" + table.trivia.indent
            table.add(tomlkit.ws("\0"))
            text = self.render()
            head, tail = text[: text.index("\0")], trailing + text[text.rindex("\0") + 1 :]
            if head.endswith("\n\n") and (not tail or tail.startswith("\n")):
                head = head[:-1]  # one blank line between what was before and after it
            self.document = tomlkit.parse(head + tail)
        elif isinstance(container, Array):
            del container[index]
        else:
            raise ConfigError([f"{self.path}: sources: expected [[sources]] tables"])
        del self._sources[index]
        self._by_url, self._by_name = {}, {}
        for source in self._sources:
            self._index(source)
        return found

    def render(self) -> str:
        return self.document.as_string()

    def save(self) -> Settings:
        """Validate the edited config, then replace the file with it; if invalid, write nothing."""
        text = self.render()
        settings = validate_config(parse_toml(text, self.path), self.path)
        target = self.path.resolve()  # a symlinked config keeps its link
        write_atomically(target, text.encode("utf-8"), stat.S_IMODE(target.stat().st_mode))
        return settings

    def _named(self, name: str) -> SourceSettings | None:
        return self._by_name.get(name)

    def _index(self, source: SourceSettings) -> None:
        self._by_url.setdefault(source.url, source)
        self._by_name.setdefault(source.name, source)

    def _with_url_as_given(self, text: str) -> SourceSettings | None:
        """The source with this URL, as the config writes it or as typed in this folder."""
        try:
            return self.source_with_url(text) or self.source_with_url(self.written_url(text))
        except EditRefused:  # not a URL or path at all
            return None

    def _append(self, section: str, values: dict[str, Any], key: str | None = None) -> None:
        """Add a table to `section` (an array of tables, or a table of tables when `key`)."""
        existing = self.document.get(section)
        if isinstance(existing, Array) and not existing and key is None:
            # `sources = []` holds no table to follow: it becomes the [[sources]] list.
            self.document.remove(section)
            existing = None
        if existing is None:
            self.document.add(section, tomlkit.aot() if key is None else tomlkit.table(True))
            existing = self.document[section]
        members: list[Item] = (
            list(existing.value.values()) if isinstance(existing, Table) else list(existing)
        )
        inline = any(isinstance(member, InlineTable) for member in members)
        new: Table | InlineTable = tomlkit.inline_table() if inline else tomlkit.table()
        new.update(values)
        last = members[-1] if members else None
        if isinstance(new, Table) and isinstance(last, Table):
            _move_trailing_trivia(last, new)
        if key is None:
            assert isinstance(existing, AoT | Array)
            existing.append(new)
        else:
            assert isinstance(existing, Table)
            existing.append(key, new)
        if isinstance(new, Table):
            new.trivia.indent = _blank_line_before(self, new, last)


def _blank_line_before(editor: ConfigEditor, new: Table, last: Item | None) -> str:
    """The indent that leaves one blank line before `new`'s header, whatever tomlkit put
    there. After a table of the same section, only that table's text is read (rendering
    the whole file for each table an import adds would make imports quadratic); else the
    header is found with a marker (NUL cannot occur in TOML) in the whole rendering."""
    if isinstance(last, Table):
        head = last.as_string()
    else:
        new.trivia.indent = "\0"
        text = editor.render()
        head = text[: text.index("\0")]
    line_ends = len(head) - len(head.rstrip("\n"))
    return "\n" * max(0, 2 - line_ends) if head.strip() else ""


def _move_trailing_trivia(last: Table, new: Table) -> None:
    """Move the comments and blank lines that end `last` to after `new`.

    They usually introduce whatever follows (the next section's banner), so the
    new table goes between the last value of `last` and them.
    """
    for item in _pop_trailing_trivia(last):
        new.add(item)


def _pop_trailing_trivia(table: Table) -> list[Comment | Whitespace]:
    """Take the comments and blank lines after the last value of `table` out of it."""
    body = table.value.body
    trailing: list[Comment | Whitespace] = []
    # Keyless items at the end are not indexed by key, so popping them keeps the table whole.
    while body and body[-1][0] is None and isinstance(item := body[-1][1], Comment | Whitespace):
        body.pop()
        trailing.insert(0, item)
    return trailing
