"""The architecture, checked: modules fit in a head, the guide names each one, no import cycles.

The allowed imports between stages are import-linter contracts (pyproject.toml, run by
`lint-imports` in CI); these tests keep what the contracts cannot say.
"""

from __future__ import annotations

import grimp

from tests.conftest import ROOT

PACKAGE = ROOT / "feedhub"
MAX_LINES = 500


def modules() -> list[str]:
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "migrations/versions" not in path.as_posix()
    )


def test_no_module_is_over_500_lines() -> None:
    lengths = {name: len((ROOT / name).read_text().splitlines()) for name in modules()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_the_developers_guide_names_every_module_by_its_path() -> None:
    guide = (ROOT / "DEVELOPERS.md").read_text()
    assert [name for name in modules() if f"`{name}`" not in guide] == []


def test_every_module_says_its_job_in_a_docstring() -> None:
    assert [name for name in modules() if not (ROOT / name).read_text().startswith('"""')] == []


def test_no_import_cycles_type_checking_imports_included() -> None:
    graph = grimp.build_graph("feedhub", exclude_type_checking_imports=False)
    cycles = sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert cycles == []
