"""Read the TOML config file and validate it into frozen, typed settings.

Every problem becomes one line naming the file, the key, what is wrong and how to
fix it (`ConfigError.problems`); nothing here raises a traceback at the user.
Relative paths (output_dir, SQLite database files, local sources) resolve
against the config file's folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from feedhub import __version__
from feedhub.config.durations import Duration, format_duration
from feedhub.config.durations import parse_duration as parse_duration  # where callers look
from feedhub.config.problems import describe, key_part, known_list, source_where
from feedhub.config.websub import WebSubSettings
from feedhub.core.errors import ConfigError
from feedhub.core.text import control_character

DEFAULT_CONFIG_NAME = "feedhub.toml"
CONFIG_ENV_VAR = "FEEDHUB_CONFIG"
RESERVED_SLUGS = frozenset({"all", "metrics"})
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        """Refused, not cleaned: what the operator wrote is kept or named, never changed."""
        texts = value if isinstance(value, list | tuple) else [value]
        for text in texts:
            if isinstance(text, str) and (found := control_character(text)):
                raise ValueError(f"contains the control character {found}; remove it")
        return value


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


class HubSettings(_Settings):
    title: str = "feedhub"
    base_url: str = "http://127.0.0.1:8080/"
    output_dir: Path = Path("public")
    database: str = "sqlite:///feedhub.sqlite"
    max_entries: int = Field(default=50, ge=1, le=1000)
    keep_days: int = Field(default=90, ge=1)
    keep_min: int = Field(default=50, ge=0)

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an absolute http(s) URL; write where the published "
                'files are served, like "https://feeds.example.org/"'
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("output_dir")
    @classmethod
    def _resolve_output_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return (_base_dir(info) / value.expanduser()).resolve()

    @field_validator("database")
    @classmethod
    def _resolve_sqlite_path(cls, value: str, info: ValidationInfo) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                f"{value!r} is not a database URL; write "
                '"sqlite:///feedhub.sqlite" or "postgresql+psycopg://user@host/db"'
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                f"database {url.get_backend_name()!r} is not supported; use sqlite or postgresql"
            )
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = (_base_dir(info) / Path(url.database).expanduser()).resolve()
            return url.set(database=str(path)).render_as_string(hide_password=False)
        return value


class FetchSettings(_Settings):
    timeout: float = Field(default=20.0, gt=0, le=600)
    deadline: float = Field(default=60.0, gt=0, le=3600)
    concurrency: int = Field(default=32, ge=1, le=256)
    per_host: int = Field(default=2, ge=1, le=64)
    user_agent: str = f"feedhub/{__version__} (+https://github.com/feedhub/feedhub)"
    allow_private_networks: bool = False
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Bodies of `concurrency` fetches can be in memory at once: keep their sum well bounded.
    max_decompressed_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_entries_per_document: int = Field(default=5000, ge=1)
    max_field_bytes: int = Field(default=256 * 1024, ge=1024)


class ScheduleSettings(_Settings):
    interval: Duration = timedelta(minutes=30)
    min_interval: Duration = timedelta(minutes=5)
    max_interval: Duration = timedelta(days=1)
    tick: Duration = timedelta(seconds=1)
    # How long a worker's claim on the sources it polls lasts unless renewed (it renews
    # them every third of it): a dead worker's sources wait this long for another worker.
    lease: Duration = timedelta(minutes=2)


class ServeSettings(_Settings):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    metrics: bool = True  # false: no /metrics anywhere
    # Either set: /metrics is served there only, not on the site (the other defaults to
    # the site's host, or port 9108).
    metrics_host: str | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)


class DedupeSettings(_Settings):
    """Near-duplicate articles across sources (see `feedhub.rules.neardup`)."""

    enabled: bool = True
    # The share of the shorter text that must be found in the longer one.
    threshold: float = Field(default=0.6, ge=0.3, le=1.0)


class CategorySettings(_Settings):
    title: str
    match: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_per_source: int | None = Field(default=None, ge=1)
    dedupe: bool = True  # false: every copy of a story is shown on its own


class SourceSettings(_Settings):
    url: str
    name: str = ""
    categories: tuple[str, ...] = ()
    interval: Duration | None = None
    allow_private_networks: bool | None = None
    dedupe: bool = True  # false: this source's entries are never merged with others

    @field_validator("url")
    @classmethod
    def _resolve_url(cls, value: str, info: ValidationInfo) -> str:
        return resolve_source_url(value, _base_dir(info))


def default_source_name(url: str) -> str:
    """The name of a source that has none: its URL's host and path ("example.org/feed.xml"),
    or its file's name. Never the URL's user or password: names are published."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(url2pathname(parts.path)).name
    host = parts.hostname or ""
    with contextlib.suppress(ValueError):  # a port out of range: the host alone
        host += f":{parts.port}" if parts.port else ""
    return host + parts.path.rstrip("/")


def is_slug(text: str) -> bool:
    """Whether `text` can name a category in URLs and paths: lowercase letters, digits, '-'."""
    return _SLUG.fullmatch(text) is not None


def unique_name(base: str, taken: Set[str]) -> str:
    """`base`, or `base (2)`, `base (3)`... whichever is not in `taken`."""
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base} ({number})"
    return name


def source_names(given: Sequence[tuple[str | None, str | None]]) -> list[str | None]:
    """Each source's name from its (name, url): its own, else `default_source_name` made
    unique among all names, so twenty unnamed feeds of one site get twenty names."""
    taken = {name for name, _ in given if name}
    names: list[str | None] = []
    for name, url in given:
        if not name and url:
            name = unique_name(default_source_name(url), taken)
            taken.add(name)
        names.append(name or None)
    return names


def resolve_source_url(value: str, base_dir: Path) -> str:
    """An http(s) URL as given, or a local path / file: URL as an absolute file: URL."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(
                f"{value!r} has no host; write a full URL like https://example.org/feed"
            )
        return value
    if parts.scheme == "file":
        return Path(parts.path).resolve().as_uri()
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        return (base_dir / Path(value).expanduser()).resolve().as_uri()
    raise ValueError(
        f"{value!r} is not an http(s) URL or a local file; "
        "write https://... or a path to a feed file"
    )


class Settings(_Settings):
    """The whole, validated configuration."""

    hub: HubSettings = HubSettings()
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    serve: ServeSettings = ServeSettings()
    dedupe: DedupeSettings = DedupeSettings()
    websub: WebSubSettings = WebSubSettings()
    categories: dict[str, CategorySettings] = {}
    sources: tuple[SourceSettings, ...] = ()
    path: Path = Path(DEFAULT_CONFIG_NAME)

    @field_validator("sources")
    @classmethod
    def _named(cls, value: tuple[SourceSettings, ...]) -> tuple[SourceSettings, ...]:
        names = source_names([(source.name, source.url) for source in value])
        return tuple(
            source if source.name else source.model_copy(update={"name": name})
            for source, name in zip(value, names, strict=True)
        )

    def source_interval(self, source: SourceSettings) -> timedelta:
        return source.interval or self.schedule.interval

    def source_allows_private(self, source: SourceSettings) -> bool:
        """Whether every hop of `source` (redirects included) may reach a non-public address."""
        return source.allow_private_networks is not False and self.fetch.allow_private_networks

    def source_private_host(self, source: SourceSettings) -> str | None:
        """The one host a source's own `allow_private_networks = true` lets be non-public:
        its own, not wherever it redirects."""
        return urlsplit(source.url).hostname if source.allow_private_networks else None

    def source_by_url(self, url: str) -> SourceSettings | None:
        return next((source for source in self.sources if source.url == url), None)

    @property
    def shortest_interval(self) -> timedelta:
        return min((self.source_interval(s) for s in self.sources), default=self.schedule.interval)


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """--config, else $FEEDHUB_CONFIG, else ./feedhub.toml."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_NAME)


def load_config(path: Path) -> Settings:
    """Read and validate `path`; raise ConfigError with one line per problem."""
    raw = read_toml(path)
    return validate_config(raw, path)


def read_toml(path: Path) -> dict[str, Any]:
    return parse_toml(read_config_text(path), path)


def parse_toml(text: str, path: Path) -> dict[str, Any]:
    """`text` (the contents of `path`) as TOML; ConfigError with one line when it is not."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: invalid TOML: {error}; fix the syntax there"]) from None


def read_config_text(path: Path) -> str:
    """The config file's text; ConfigError with one line when it cannot be read."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no such config file; pass --config PATH or set {CONFIG_ENV_VAR}"]
        ) from None
    except OSError as error:
        raise ConfigError(
            [f"{path}: cannot read the config file ({error.strerror}); check its permissions"]
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            [f"{path}: not UTF-8 text (byte {error.start}); save the file as UTF-8"]
        ) from None
    return text


def validate_config(raw: Mapping[str, Any], path: Path) -> Settings:
    base_dir = path.resolve().parent
    problems: list[str] = []
    settings: Settings | None = None
    try:
        # Absent sections are validated too, so their default paths resolve like written ones.
        sections: dict[str, Any] = {
            key: {} for key in ("hub", "fetch", "schedule", "serve", "websub")
        }
        settings = Settings.model_validate(
            {**sections, **raw, "path": path.resolve()}, context={"base_dir": base_dir}
        )
    except ValidationError as error:
        problems = [describe(e, raw, _KEYS) for e in error.errors()]
    # The checks across keys read the raw values, so they come out with every other problem.
    problems += _cross_problems(raw, base_dir)
    if problems or settings is None:
        raise ConfigError([f"{path}: {problem}" for problem in problems])
    return settings


@dataclass(frozen=True, slots=True)
class _SourceFacts:
    """What the cross-checks look at in one source (None: not known, as it did not validate)."""

    url: str | None
    name: str | None
    categories: tuple[str, ...]


def _cross_problems(raw: Mapping[str, Any], base_dir: Path) -> list[str]:
    categories = _table(raw, "categories")
    return (
        [problem for slug in categories if (problem := _slug_problem(str(slug)))]
        + _order_problems(_table(raw, "schedule"))
        + _source_problems(_raw_sources(raw, base_dir), {str(slug) for slug in categories})
    )


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _slug_problem(slug: str) -> str | None:
    if slug in RESERVED_SLUGS:
        return (
            f"[categories.{key_part(slug)}]: the slug {slug!r} is reserved for the hub's own "
            "files; choose another name for this table"
        )
    if is_slug(slug):
        return None
    suggestion = "-".join(re.findall(r"[a-z0-9]+", slug.lower())) or "news"
    return (
        f"[categories.{key_part(slug)}]: the slug {slug!r} is not allowed; use only lowercase "
        f"letters, digits and '-', starting with a letter or digit, like [categories.{suggestion}]"
    )


def _order_problems(schedule: Mapping[str, Any]) -> list[str]:
    try:
        low, high = (
            parse_duration(schedule.get(key, ScheduleSettings.model_fields[key].default))
            for key in ("min_interval", "max_interval")
        )
    except ValueError:  # reported by the validation already
        return []
    if low <= high:
        return []
    return [
        f"[schedule].min_interval ({format_duration(low)}) is longer than "
        f"max_interval ({format_duration(high)}); swap or fix them"
    ]


def _raw_sources(raw: Mapping[str, Any], base_dir: Path) -> list[_SourceFacts]:
    """The cross-checks' view of the sources, whether or not they validated."""
    sources = raw.get("sources")
    if not isinstance(sources, list):
        return []
    tables = [source if isinstance(source, dict) else {} for source in sources]
    urls = [_raw_url(table, base_dir) for table in tables]
    given = [table.get("name") for table in tables]
    names = source_names(
        [
            (name if isinstance(name, str) else None, url)
            for name, url in zip(given, urls, strict=True)
        ]
    )
    return [
        _SourceFacts(url, name, _strings(table.get("categories")))
        for table, url, name in zip(tables, urls, names, strict=True)
    ]


def _raw_url(source: Mapping[str, Any], base_dir: Path) -> str | None:
    url = source.get("url")
    if isinstance(url, str):
        with contextlib.suppress(ValueError):
            return resolve_source_url(url, base_dir)
    return None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _source_problems(facts: Sequence[_SourceFacts], categories: Set[str]) -> list[str]:
    problems: list[str] = []
    seen_urls: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for number, source in enumerate(facts, start=1):
        where = source_where(number, source.name)
        if source.url in seen_urls:
            problems.append(
                f"{where}: url {source.url!r} is already source #{seen_urls[source.url]}; "
                "remove one of them"
            )
        if source.name in seen_names:
            problems.append(
                f"{where}: name {source.name!r} is already used by source "
                f"#{seen_names[source.name]}; give each source its own name"
            )
        if source.url is not None:
            seen_urls.setdefault(source.url, number)
        if source.name is not None:
            seen_names.setdefault(source.name, number)
        problems.extend(
            f"{where}: categories: unknown category {slug!r}; "
            f"add [categories.{key_part(slug)}] or use one of: {known_list(categories)}"
            for slug in source.categories
            if slug not in categories
        )
    return problems


# Each section's keys ("" for the top level), for "did you mean" on an unknown key.
_KEYS: dict[str, list[str]] = {
    "": ["hub", "fetch", "schedule", "serve", "websub", "categories", "sources"],
    "hub": list(HubSettings.model_fields),
    "fetch": list(FetchSettings.model_fields),
    "schedule": list(ScheduleSettings.model_fields),
    "serve": list(ServeSettings.model_fields),
    "websub": list(WebSubSettings.model_fields),
    "categories": list(CategorySettings.model_fields),
    "sources": list(SourceSettings.model_fields),
}
