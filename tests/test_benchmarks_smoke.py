"""Smoke test of the benchmark harness: a tiny run prints a row of numbers per installed contender.

No timing assertions: only that every contender ran every scenario against the
benchmark server and was measured.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="the benchmark needs the bench extra (psutil)")

REPO = Path(__file__).resolve().parents[1]
FEEDS = 5  # --quick
UPDATES = ("cold", "warm", "changed", "novalidators")
NUMBERS = ("wall s", "CPU s", "peak RSS MiB", "peak PSS MiB", "max RSS MiB")


def _table(stdout: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = stdout.strip().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("contender"))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = [
        dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=False))
        for line in lines[start + 1 :]
    ]
    return {(row["contender"], row["scenario"]): row for row in rows}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, str]]:
    work = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        # Two rounds: each must start cold, and the table gives the median run.
        [sys.executable, "-m", "benchmarks", "--quick", "--repeat", "2", "--work", str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return _table(done.stdout)


def _expected_contenders() -> list[str]:
    expected = ["lower bound", "feedhub"]
    if find_spec("reader") is not None and find_spec("sgmllib") is not None:
        expected.append("reader")
    return expected


@pytest.mark.slow
@pytest.mark.parametrize("contender", _expected_contenders())
def test_every_update_scenario_is_measured(
    table: dict[tuple[str, str], dict[str, str]], contender: str
) -> None:
    for scenario in UPDATES:
        row = table.get((contender, scenario))
        assert row is not None, f"no row for {contender} {scenario}: {sorted(table)}"
        for column in NUMBERS:
            assert float(row[column]) > 0, (contender, scenario, column, row)
        assert int(row["GETs"]) == FEEDS, row


@pytest.mark.slow
@pytest.mark.parametrize("contender", ["lower bound", "reader"])
def test_reference_contenders_get_304_when_warm(
    table: dict[tuple[str, str], dict[str, str]], contender: str
) -> None:
    if contender not in _expected_contenders():
        pytest.skip("reader is not installed")
    assert table[(contender, "cold")]["200"] == str(FEEDS)
    assert "runs=2" in table[(contender, "cold")]["note"]
    assert table[(contender, "warm")]["304"] == str(FEEDS)
    assert table[(contender, "novalidators")]["200"] == str(FEEDS)


@pytest.mark.slow
def test_feedhub_publish_is_measured(table: dict[tuple[str, str], dict[str, str]]) -> None:
    row = table[("feedhub", "publish")]
    assert float(row["wall s"]) > 0, row
    assert row["GETs"] == "0", row


@pytest.mark.slow
def test_ratios_compare_with_the_references(
    table: dict[tuple[str, str], dict[str, str]],
) -> None:
    assert table[("lower bound", "cold")]["x lower"] == "1.00"
    if "reader" in _expected_contenders():
        assert table[("reader", "cold")]["x reader"] == "1.00"
        assert float(table[("lower bound", "cold")]["x reader"]) > 0


def run_module(module: str, *options: str) -> subprocess.CompletedProcess[str]:
    """`python -m module options...` from the repository, which must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", module, *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_cost_growth_prints_every_part_and_plots(tmp_path: Path) -> None:
    plot = tmp_path / "growth.png"
    options = ["--quick", "--work", str(tmp_path / "work"), "--plot", str(plot)]
    done = run_module("benchmarks.growth", *options)
    parts = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert {"update", "publish", "memory", "idle"} <= parts, done.stdout
    # The stores published from show entries (they did not: no entry was routed anywhere).
    published = [line for line in done.stdout.splitlines() if line.startswith("publish ")]
    assert published and all("entries in all=0" not in line for line in published), published
    assert all("entries in all=" in line for line in published), published
    assert "USING COVERING INDEX ix_entry_categories_recent" in done.stdout
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_near_duplicate_cost_prints_both_parts(tmp_path: Path) -> None:
    done = run_module("benchmarks.neardup", "--quick", "--work", str(tmp_path))
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.split()[:1] in (["on"], ["off"])] == [
        "on",
        "off",
    ]
    assert "detection costs" in done.stdout
    sizes = [
        line.split()[0] for line in lines[lines.index(next(x for x in lines if "keys:" in x)) :]
    ]
    assert {"1000", "5000"} <= set(sizes)


def test_parse_cost_prints_both_paths_and_their_workers() -> None:
    options = ["--feeds", "3", "--entries", "3", "--repeat", "1"]
    done = run_module("benchmarks.parse", *options)
    rows = [line for line in done.stdout.splitlines() if "us/entry" in line or "worker:" in line]
    assert [row.split("  ")[0] for row in rows] == ["fast path", "feedparser"] * 2, done.stdout
    assert rows[2].endswith("loaded: lxml"), rows[2]  # the fast path's worker, no feedparser


@pytest.mark.slow
@pytest.mark.parametrize("contender", ["feedhub", "reader"])
def test_daemon_mode_ticks_are_measured_in_live_processes(
    table: dict[tuple[str, str], dict[str, str]], contender: str
) -> None:
    if contender not in _expected_contenders():
        pytest.skip("reader is not installed")
    warm, changed = table[(contender, "daemon warm")], table[(contender, "daemon changed")]
    for row in (warm, changed):
        for column in NUMBERS:
            assert float(row[column]) > 0, (contender, column, row)
        assert int(row["GETs"]) == FEEDS, row
    assert warm["304"] == str(FEEDS)
    assert int(changed["200"]) >= 1, changed
