"""The suite needs nothing beside the clone: the Atom schema it validates with is carried here."""

from __future__ import annotations

import re

from lxml import etree

from tests.conftest import ATOM_SCHEMA, ROOT


def test_atom_schema_is_in_the_repository_and_loads() -> None:
    assert ATOM_SCHEMA.resolve().is_relative_to(ROOT / "tests")
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    minimal = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>t</title>'
        b"<updated>2025-01-01T00:00:00Z</updated></feed>"
    )
    assert schema.validate(etree.fromstring(minimal)), schema.error_log
    assert not schema.validate(etree.fromstring(b'<feed xmlns="http://www.w3.org/2005/Atom"/>'))


def test_no_test_reads_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|parent\s*/\s*.shared")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if outside.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
