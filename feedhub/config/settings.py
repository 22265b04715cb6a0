"""Read the TOML config file and validate it into frozen, typed settings.

Every problem becomes one line naming the file, the key, what is wrong and how to
fix it (`ConfigError.problems`); nothing here raises a traceback at the user.
Relative paths (output_dir, SQLite database files, local sources) resolve
against the config file's folder.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from feedhub import __version__
from feedhub.core.errors import ConfigError

DEFAULT_CONFIG_NAME = "feedhub.toml"
CONFIG_ENV_VAR = "FEEDHUB_CONFIG"
RESERVED_SLUGS = frozenset({"all", "metrics"})
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LONGEST_SECONDS = 100 * 366 * 86400
DURATION_HINT = 'write a number and a unit, like "90s", "15m", "2h" or "1d"'


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '2h', '1d' (or a number of seconds) as a positive timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Clamped first: an integer too large for a float would overflow (NaN ends up at -1).
        seconds = float(max(-1, min(value, _LONGEST_SECONDS + 1)))
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration; {DURATION_HINT}")
    if seconds > _LONGEST_SECONDS:  # timedelta cannot hold much more
        raise ValueError(f"{value!r} is longer than 100 years; {DURATION_HINT}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0 and seconds >= _UNIT_SECONDS[unit]:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


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

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleSettings:
        if self.min_interval > self.max_interval:
            raise ValueError(
                f"min_interval ({format_duration(self.min_interval)}) is longer than "
                f"max_interval ({format_duration(self.max_interval)}); swap or fix them"
            )
        return self


class ServeSettings(_Settings):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


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

    @model_validator(mode="after")
    def _default_name(self) -> SourceSettings:
        if not self.name:
            object.__setattr__(self, "name", default_source_name(self.url))
        return self


def default_source_name(url: str) -> str:
    """The name of a source that has none: its URL's host, or its file's name."""
    return urlsplit(url).netloc or Path(urlsplit(url).path).name


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
    categories: dict[str, CategorySettings] = {}
    sources: tuple[SourceSettings, ...] = ()
    path: Path = Path(DEFAULT_CONFIG_NAME)

    @field_validator("categories")
    @classmethod
    def _slugs(cls, value: dict[str, CategorySettings]) -> dict[str, CategorySettings]:
        for slug in value:
            if slug in RESERVED_SLUGS or not _SLUG.match(slug):
                raise ValueError(
                    f"category slug {slug!r} is not allowed; use lowercase letters, digits "
                    "and '-', not 'all' or 'metrics'"
                )
        return value

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
    try:
        # Absent sections are validated too, so their default paths resolve like written ones.
        sections: dict[str, Any] = {key: {} for key in ("hub", "fetch", "schedule", "serve")}
        settings = Settings.model_validate(
            {**sections, **raw, "path": path.resolve()}, context={"base_dir": base_dir}
        )
    except ValidationError as error:
        problems = [_describe(e, raw) for e in error.errors()]
        # The sources' cross-checks too, as far as the raw values allow: every problem at once.
        problems += _source_problems(*_raw_sources(raw, base_dir))
        raise ConfigError([f"{path}: {problem}" for problem in problems]) from None
    problems = [f"{path}: {problem}" for problem in _cross_check(settings)]
    if problems:
        raise ConfigError(problems)
    return settings


@dataclass(frozen=True, slots=True)
class _SourceFacts:
    """What the cross-checks look at in one source (None: not known, as it did not validate)."""

    url: str | None
    name: str | None
    categories: tuple[str, ...]


def _cross_check(settings: Settings) -> list[str]:
    facts = [_SourceFacts(s.url, s.name, s.categories) for s in settings.sources]
    return _source_problems(facts, set(settings.categories))


def _raw_sources(raw: Mapping[str, Any], base_dir: Path) -> tuple[list[_SourceFacts], set[str]]:
    """The cross-checks' view of a config that did not validate."""
    categories = raw.get("categories")
    known = {str(slug) for slug in categories} if isinstance(categories, dict) else set()
    sources = raw.get("sources")
    if not isinstance(sources, list):
        return [], known
    return [_raw_source(source, base_dir) for source in sources], known


def _raw_source(source: object, base_dir: Path) -> _SourceFacts:
    if not isinstance(source, dict):
        return _SourceFacts(None, None, ())
    url = None
    if isinstance(source.get("url"), str):
        with contextlib.suppress(ValueError):
            url = resolve_source_url(source["url"], base_dir)
    name = source.get("name") or (default_source_name(url) if url else None)
    categories = source.get("categories")
    return _SourceFacts(
        url,
        name if isinstance(name, str) else None,
        tuple(c for c in categories if isinstance(c, str)) if isinstance(categories, list) else (),
    )


def _source_problems(facts: Sequence[_SourceFacts], categories: Set[str]) -> list[str]:
    problems: list[str] = []
    seen_urls: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for number, source in enumerate(facts, start=1):
        where = _source_where(number, source.name)
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
            f"add [categories.{_key_part(slug)}] or use one of: {_known(categories)}"
            for slug in source.categories
            if slug not in categories
        )
    return problems


def _known(categories: Iterable[str]) -> str:
    return ", ".join(sorted(map(_key_part, categories))) or "(none defined)"


def _source_where(number: int, name: str | None) -> str:
    shown = name if name is None or name.isprintable() else json.dumps(name)
    return f"sources #{number}" + (f" ({shown})" if shown else "")


def _describe(error: ErrorDetails, raw: Mapping[str, Any]) -> str:
    """One line for one pydantic error: the key, what is wrong, how to fix it."""
    loc = [part for part in error["loc"] if not str(part).startswith("function-")]
    key = _key_name(loc, raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key{_did_you_mean(loc)}; remove it or fix its spelling"
    if kind == "missing":
        return f"{key}: required key is missing; add it"
    message = error["msg"].removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return f"{key}: {message}"
    return f"{key}: {message} (got {error.get('input')!r}); fix the value"


def _key_name(loc: Sequence[int | str], raw: Mapping[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        sources = raw.get("sources")
        name = None
        if (
            isinstance(sources, list)
            and loc[1] < len(sources)
            and isinstance(sources[loc[1]], dict)
        ):
            name = sources[loc[1]].get("name") or sources[loc[1]].get("url")
        where = _source_where(loc[1] + 1, str(name) if name else None)
        rest = ".".join(map(_key_part, loc[2:]))
        return f"{where}: {rest}" if rest else where
    if loc and loc[0] == "categories" and len(loc) >= 2:
        rest = "".join("." + _key_part(part) for part in loc[2:])
        return f"[categories.{_key_part(loc[1])}]{rest}"
    if len(loc) >= 2:
        return f"[{loc[0]}].{'.'.join(map(_key_part, loc[1:]))}"
    return ".".join(map(_key_part, loc)) or "(top level)"


def _key_part(part: int | str) -> str:
    """A key as written in TOML: bare when it can be, quoted otherwise (so it stays on one line)."""
    text = str(part)
    return text if _BARE_KEY.fullmatch(text) else json.dumps(text)


_SECTIONS: dict[str, type[BaseModel]] = {
    "hub": HubSettings,
    "fetch": FetchSettings,
    "schedule": ScheduleSettings,
    "serve": ServeSettings,
    "categories": CategorySettings,
    "sources": SourceSettings,
}


def _did_you_mean(loc: Sequence[int | str]) -> str:
    if len(loc) == 1:
        known = [name for name in Settings.model_fields if name != "path"]
    else:
        section = _SECTIONS.get(str(loc[0]))
        known = list(section.model_fields) if section else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
