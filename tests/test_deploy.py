"""The deployment files in deploy/: the systemd unit and the crontab line work as documented."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from feedhub.app.cli import cli
from feedhub.config.settings import load_config
from tests.conftest import ROOT, SAMPLES, ConfigWriter
from tests.test_pipeline import CATEGORIES

UNIT = ROOT / "deploy" / "feedhub@.service"
CRONTAB = ROOT / "deploy" / "crontab"
FEEDHUB = "/opt/feedhub/.venv/bin/feedhub"
CONFIG = "/etc/feedhub/feedhub.toml"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_runs_the_daemon_or_the_server_as_its_instance() -> None:
    settings = unit_settings()
    assert settings["ExecStart"] == [f"{FEEDHUB} --config {CONFIG} %i"]
    assert settings["ExecStartPre"] == [f"{FEEDHUB} --config {CONFIG} check"]
    assert {"run", "serve", "check"} <= set(cli.commands)
    assert settings["RestartPreventExitStatus"] == ["2"]  # a bad config is not retried
    assert settings["StateDirectory"] == ["feedhub"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes",
    }.items():
        assert settings[key] == [value], key


@pytest.mark.parametrize("instance", ["run", "serve"])
def test_unit_verifies_and_is_hardened(tmp_path: Path, instance: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart can be executed: point it at something that exists.
    unit = tmp_path / f"feedhub@{instance}.service"
    unit.write_text(UNIT.read_text().replace(FEEDHUB, sys.executable))
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert exposure is not None, security.stdout[-500:] + security.stderr
    assert float(exposure.group(1)) <= 2.0, security.stdout  # systemd rates up to 2.0 "OK"


def test_crontab_line_polls_publishes_and_stays_quiet(
    tmp_path: Path, write_config: ConfigWriter
) -> None:
    lines = [
        line
        for line in CRONTAB.read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    (line,) = lines
    minute, hour, day, month, weekday, user, *command = line.split()
    assert (minute, hour, day, month, weekday, user) == ("*/5", "*", "*", "*", "*", "feedhub")
    assert command[:3] == ["flock", "-n", "/var/lib/feedhub/cron.lock"]
    assert "run" in command and "--once" in command
    config = write_config(
        [{"url": str(SAMPLES / "world-briefing.rdf"), "name": "Briefing", "categories": ["world"]}],
        CATEGORIES,
    )
    # The same command line, with this machine's paths, as cron's /bin/sh would run it.
    local = (
        " ".join(command)
        .replace(FEEDHUB, f"{shlex.quote(sys.executable)} -m feedhub")
        .replace(CONFIG, shlex.quote(str(config)))
        .replace("/var/lib/feedhub/cron.lock", shlex.quote(str(tmp_path / "cron.lock")))
    )
    result = subprocess.run(
        ["/bin/sh", "-c", local], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # cron mails any output
    output = load_config(config).hub.output_dir
    assert (output / "world" / "atom.xml").exists() and (output / "index.html").exists()
