"""The workers benchmark runs, and checks what it measures: one request per feed, no duplicate."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.databases import POSTGRES_SERVER, require_postgres


@pytest.mark.slow
@pytest.mark.postgres
def test_the_workers_benchmark_measures_each_worker_count_and_round() -> None:
    require_postgres()
    result = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.workers", "--feeds", "6", "--entries", "2"),
            *("--latency", "0", "--hosts", "2", "--workers", "1,2", "--settle", "0.5"),
            *("--database", POSTGRES_SERVER),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in result.stdout.splitlines()
        if line[:3] in ("| 1", "| 2")
    ]
    assert sorted((row[0], row[1]) for row in rows) == [
        ("1", "cold"),
        ("1", "warm"),
        ("2", "cold"),
        ("2", "warm"),
    ]
    assert {row[5] for row in rows} == {"6"}  # requests: one per feed and round
    assert {row[6] for row in rows} == {"12"}  # entries: each stored once
