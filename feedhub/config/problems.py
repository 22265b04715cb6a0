"""Say what is wrong with a config value in TOML's words, not the validation library's.

One pydantic error becomes one line: the key as written in the file (`[hub].max_entries`,
`sources #2 (Example): categories`), what is wrong and how to write it instead.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic_core import ErrorDetails

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHOWN_CHARACTERS = 60
_TABLES = {
    "sources": 'write each source as [[sources]] with its url = "https://..." below',
    "categories": 'write each category as [categories.news] with its title = "News" below',
}
_KINDS = {
    "int": "a whole number without quotes, e.g. {leaf} = 50",
    "float": "a number without quotes, e.g. {leaf} = 20",
    "bool": "true or false, without quotes",
    "string": 'text in quotes, e.g. {leaf} = "..."',
    "list": "a list of strings, e.g. {leaf} = {example}",
    "table": "a table, e.g. [{leaf}] on a line of its own with its keys below it",
}
_KIND_OF_ERROR = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "string_type": "string",
    "tuple_type": "list",
    "list_type": "list",
    "dict_type": "table",
    "model_type": "table",
    "model_attributes_type": "table",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least {}"),
    "greater_than": ("gt", "more than {}"),
    "less_than_equal": ("le", "at most {}"),
    "less_than": ("lt", "less than {}"),
}


def describe(error: ErrorDetails, raw: Mapping[str, Any], keys: Mapping[str, Sequence[str]]) -> str:
    """One line for one pydantic error; `keys` lists each section's known keys ("" for the
    top level), for the "did you mean" of an unknown key."""
    loc = [part for part in error["loc"] if not str(part).startswith("function-")]
    key = key_name(loc, raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key{_did_you_mean(loc, keys)}; remove it or fix its spelling"
    if kind == "missing":
        return f"{key}: required key is missing; add it"
    if kind in ("value_error", "assertion_error"):
        return f"{key}: {error['msg'].removeprefix('Value error, ')}"
    return f"{key}: {_wrong_value(kind, loc, error)}"


def _wrong_value(kind: str, loc: Sequence[int | str], error: ErrorDetails) -> str:
    got = f"got {toml_value(error.get('input'))}"
    if len(loc) <= 2 and str(loc[0]) in _TABLES and kind in _KIND_OF_ERROR:
        return f"{_TABLES[str(loc[0])]} ({got})"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return f"must be {words.format(error.get('ctx', {}).get(bound))} ({got}); fix the value"
    if kind in _KIND_OF_ERROR:
        leaf = next((str(p) for p in reversed(loc) if isinstance(p, str)), "key")
        given = error.get("input")
        example = json.dumps([given if isinstance(given, str) and given else "..."])
        words = _KINDS[_KIND_OF_ERROR[kind]].format(leaf=leaf, example=example)
        return f"must be {words} ({got})"
    return f"{error['msg']} ({got}); fix the value"


def toml_value(value: object) -> str:
    """How `value` reads in TOML, shortened to one short line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list | tuple):
        text = "a list"
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > _SHOWN_CHARACTERS:
        return text[: _SHOWN_CHARACTERS - 1] + "…"
    return text


def key_name(loc: Sequence[int | str], raw: Mapping[str, Any]) -> str:
    """Where `loc` is in the file: `[hub].title`, `[categories.news].match`, `sources #2 (x)`."""
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        sources = raw.get("sources")
        name = None
        if (
            isinstance(sources, list)
            and loc[1] < len(sources)
            and isinstance(sources[loc[1]], dict)
        ):
            name = sources[loc[1]].get("name") or sources[loc[1]].get("url")
        where = source_where(loc[1] + 1, str(name) if name else None)
        rest = ".".join(map(key_part, loc[2:]))
        return f"{where}: {rest}" if rest else where
    if loc and loc[0] == "categories" and len(loc) >= 2:
        rest = "".join("." + key_part(part) for part in loc[2:])
        return f"[categories.{key_part(loc[1])}]{rest}"
    if len(loc) >= 2:
        return f"[{loc[0]}].{'.'.join(map(key_part, loc[1:]))}"
    return ".".join(map(key_part, loc)) or "(top level)"


def source_where(number: int, name: str | None) -> str:
    shown = name if name is None or name.isprintable() else json.dumps(name)
    return f"sources #{number}" + (f" ({shown})" if shown else "")


def key_part(part: int | str) -> str:
    """A key as written in TOML: bare when it can be, quoted otherwise (so it stays on one line)."""
    text = str(part)
    return text if _BARE_KEY.fullmatch(text) else json.dumps(text)


def known_list(names: Iterable[str]) -> str:
    return ", ".join(sorted(map(key_part, names))) or "(none defined)"


def _did_you_mean(loc: Sequence[int | str], keys: Mapping[str, Sequence[str]]) -> str:
    known = keys.get("" if len(loc) == 1 else str(loc[0]), ())
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
