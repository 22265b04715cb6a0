"""Turns measured runs into the printed table (with ratios) and a JSON record."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from benchmarks.measure import Measurement

MIB = 1024 * 1024
REFERENCES = (("x reader", "reader"), ("x lower", "lower bound"))
COLUMNS = (
    "contender", "scenario", "wall s", "CPU s", "peak RSS MiB", "peak PSS MiB", "max RSS MiB",
    "GETs", "200", "304", "x reader", "x lower", "note",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Row:
    """One contender in one scenario: measured, failed, or skipped."""

    contender: str
    scenario: str
    measurement: Measurement | None = None
    served: Mapping[str, int] = field(default_factory=dict)  # the server's counters
    counts: Mapping[str, object] = field(default_factory=dict)  # what the contender reported
    problem: str | None = None  # why it was skipped or failed


def table(rows: Sequence[Row], title: str) -> str:
    """The rows as an aligned text table under `title`; ratios compare wall times."""
    cells = [list(COLUMNS)] + [_cells(row, rows) for row in rows]
    widths = [max(len(line[n]) for line in cells) for n in range(len(COLUMNS) - 1)]
    lines = [title]
    for line in cells:
        padded = [text.ljust(width) for text, width in zip(line, widths, strict=False)]
        lines.append("  ".join([*padded, line[-1]]).rstrip())
    return "\n".join(lines)


def ratio(row: Row, reference: str, rows: Sequence[Row]) -> float | None:
    """`row`'s wall time over `reference`'s in the same scenario, when both ran."""
    other = next((r for r in rows if r.contender == reference and r.scenario == row.scenario), None)
    if not _ok(row) or other is None or not _ok(other):
        return None
    assert row.measurement is not None and other.measurement is not None
    return row.measurement.wall_s / other.measurement.wall_s


def medians(rounds: Sequence[Sequence[Row]]) -> list[Row]:
    """Of each contender's runs of a scenario, the one with the median wall time (the
    lower middle one of an even count), noting the range; rows that failed in a round
    are kept when no round succeeded."""
    if len(rounds) == 1:
        return list(rounds[0])
    picked = []
    for first in rounds[0]:
        runs = [row for rows in rounds for row in rows if _same(row, first)]
        good = sorted((row for row in runs if _ok(row)), key=_wall)
        if not good:
            picked.append(first)
            continue
        median = good[(len(good) - 1) // 2]
        spread = f"{_wall(good[0]):.2f}-{_wall(good[-1]):.2f}"
        counts = {**median.counts, "runs": len(good), "wall_range": spread}
        picked.append(replace(median, counts=counts))
    return picked


def write_json(rows: Sequence[Row], settings: Mapping[str, object], path: Path) -> None:
    """Record the settings and every row, ratios included, for RESULTS.md and plots."""
    records = [
        {
            **asdict(row),
            "ratios": {name: ratio(row, ref, rows) for name, ref in REFERENCES},
        }
        for row in rows
    ]
    path.write_text(json.dumps({"settings": settings, "rows": records}, indent=1, default=str))


def _cells(row: Row, rows: Sequence[Row]) -> list[str]:
    m = row.measurement
    if m is None or not _ok(row):
        blank = ["-"] * (len(COLUMNS) - 3)
        return [row.contender, row.scenario, *blank, row.problem or "failed"]
    ratios = [ratio(row, reference, rows) for _, reference in REFERENCES]
    return [
        row.contender,
        row.scenario,
        f"{m.wall_s:.3f}",
        f"{m.cpu_s:.3f}",
        f"{m.peak_rss / MIB:.1f}",
        f"{m.peak_pss / MIB:.1f}",
        f"{m.max_rss / MIB:.1f}",
        str(row.served.get("requests", 0)),
        str(row.served.get("200", 0)),
        str(row.served.get("304", 0)),
        *("-" if r is None else f"{r:.2f}" for r in ratios),
        " ".join(f"{key}={value}" for key, value in sorted(row.counts.items())),
    ]


def _same(row: Row, other: Row) -> bool:
    return (row.contender, row.scenario) == (other.contender, other.scenario)


def _wall(row: Row) -> float:
    assert row.measurement is not None
    return row.measurement.wall_s


def _ok(row: Row) -> bool:
    return row.measurement is not None and row.measurement.returncode == 0 and not row.problem
