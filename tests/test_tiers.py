"""
The suite's tiers (docs/testing.md): every collected test has exactly one tier, and the layers of
the package import downwards only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import TIERS

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_cincopa"


def test_every_collected_test_has_exactly_one_tier_and_no_airflow_db_test_is_unit(request):
    items = request.session.items
    assert request.node in items
    for item in items:
        tiers = [t for t in TIERS if any(m.name == t for m in item.iter_markers())]
        assert len(tiers) == 1, f"{item.nodeid} has tiers {tiers}"
        if "airflow_db" in item.fixturenames or item.get_closest_marker("slow"):
            assert tiers != ["unit"], f"{item.nodeid} uses Airflow's database or waits on the clock, yet is unit"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (absolute names)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("triggers", ("airflow_provider_cincopa.sensors", "airflow_provider_cincopa.operators")),
        ("_trigger_handoff", ("airflow_provider_cincopa.sensors", "airflow_provider_cincopa.triggers")),
    ],
)
def test_a_layer_imports_nothing_from_the_layers_above_it(layer, forbidden):
    modules = sorted((PACKAGE / layer).glob("*.py"))
    assert modules, f"no {layer}/ package"
    upward = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in modules
        for name in imported_modules(path)
        if name.startswith(forbidden)
    }
    assert not upward, f"{layer}/ imports from above it: {sorted(upward)}"
