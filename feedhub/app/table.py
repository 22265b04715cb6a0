"""Aligned text tables for the terminal: a header, and lines that fit its width.

At a terminal the table fits its width ($COLUMNS, else the terminal's own):
the columns that may shrink (names, URLs, errors) are cut with "…", and if that
is not enough the least useful columns are left out, in the order given. Piped
into another program, nothing is cut: every line is whole, for grep and awk.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

_GAP = "  "
_CUT = "…"


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    shrink_to: int | None = None  # the narrowest it may be cut to; None: never cut
    drop_rank: int | None = None  # left out first when the lowest; None: always shown


def terminal_width() -> int:
    """The terminal's width in characters; 0 when standard output is no terminal."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else 0


def render(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> str:
    """`rows` under a header line, padded to align; fitted to `width` unless it is 0."""
    natural = [
        max(len(column.title), *(len(row[index]) for row in rows))
        for index, column in enumerate(columns)
    ]
    shown = list(range(len(columns)))
    widths = list(natural)
    if width:
        shown, widths = _fit(columns, natural, width)
    lines = [[column.title for column in columns], *rows]
    return "\n".join(_line(line, shown, widths) for line in lines)


def _fit(columns: Sequence[Column], natural: list[int], width: int) -> tuple[list[int], list[int]]:
    """Which columns to show, and how wide, for the table to fit `width`."""
    narrowest = [
        natural[i] if c.shrink_to is None else min(natural[i], c.shrink_to)
        for i, c in enumerate(columns)
    ]
    shown = list(range(len(columns)))
    droppable = sorted((c.drop_rank, i) for i, c in enumerate(columns) if c.drop_rank is not None)
    for _, index in droppable:
        if _total(narrowest, shown) <= width:
            break
        shown.remove(index)
    widths = list(narrowest)
    spare = width - _total(widths, shown)
    for index in shown:  # the leftmost cut columns get their room back first
        extra = max(0, min(spare, natural[index] - widths[index]))
        widths[index] += extra
        spare -= extra
    return shown, widths


def _total(widths: list[int], shown: list[int]) -> int:
    return sum(widths[i] for i in shown) + len(_GAP) * (len(shown) - 1)


def _line(cells: Sequence[str], shown: list[int], widths: list[int]) -> str:
    parts = [_cut(cells[i], widths[i]).ljust(widths[i]) for i in shown]
    return _GAP.join(parts).rstrip()


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + _CUT
