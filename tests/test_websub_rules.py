"""The pure WebSub decisions (feedhub.rules.websub) and the [websub] settings' errors."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedhub.config.settings import validate_config
from feedhub.core.errors import ConfigError
from feedhub.rules import websub

NOW = datetime(2025, 7, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_every_signature_method_of_the_spec_is_checked(method: str) -> None:
    body = b"<feed/>"
    digest = hmac.new(b"k", body, getattr(hashlib, method)).hexdigest()
    assert websub.signature_matches("k", body, f"{method}={digest}")
    assert not websub.signature_matches("other", body, f"{method}={digest}")
    assert not websub.signature_matches("k", body + b" ", f"{method}={digest}")


@pytest.mark.parametrize("header", [None, "", "md5=abc", "sha256=", "sha256"])
def test_a_missing_or_unknown_signature_never_matches(header: str | None) -> None:
    assert not websub.signature_matches("k", b"body", header)


def test_sign_makes_what_signature_matches_accepts() -> None:
    assert websub.signature_matches("k", b"body", websub.sign("k", b"body"))


def test_leases_are_bounded() -> None:
    default, maximum = timedelta(days=7), timedelta(days=30)
    assert websub.granted_lease(None, default, maximum) == default
    assert websub.granted_lease("junk", default, maximum) == default
    assert websub.granted_lease("3600", default, maximum) == timedelta(hours=1)
    assert websub.granted_lease("1", default, maximum) == timedelta(minutes=1)
    assert websub.granted_lease("99999999999", default, maximum) == maximum


def test_retries_back_off_then_give_up() -> None:
    delays = [websub.retry_at(failures, NOW, 12) for failures in range(1, 13)]
    assert [d - NOW for d in delays[:4] if d] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert delays[10] == NOW + websub.LONGEST_RETRY
    assert websub.retry_at(12, NOW, 12) is None


def test_renewal_comes_before_the_lease_ends_and_pushed_sources_poll_at_max_interval() -> None:
    assert NOW < websub.renewal_at(NOW, timedelta(days=1)) < NOW + timedelta(days=1)
    regular, longest = timedelta(minutes=30), timedelta(days=1)
    assert websub.poll_interval(regular, longest, pushed=True) == longest
    assert websub.poll_interval(regular, longest, pushed=False) == regular


def test_a_bad_external_hub_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_config({"websub": {"enabled": True, "hub": "ftp://hub"}}, tmp_path / "f.toml")
    [problem] = raised.value.problems
    assert "[websub].hub" in problem and "http(s)" in problem
