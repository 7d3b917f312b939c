"""Imports point one way (DESIGN.md section 1): checked on the source, without importing it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Every absolute `minik8s.*` module each file under `folder` imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.startswith("minik8s.")}
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [
    pytest.param("api", ("minik8s.controllers", "minik8s.scheduler", "minik8s.node", "minik8s.cli"), id="api"),
    pytest.param("node", ("minik8s.controllers", "minik8s.scheduler", "minik8s.store", "minik8s.consensus",
                          "minik8s.api.server"), id="node"),
    pytest.param("scheduler", ("minik8s.controllers", "minik8s.node", "minik8s.store", "minik8s.consensus",
                               "minik8s.api.server"), id="scheduler"),
    pytest.param("controllers", ("minik8s.scheduler", "minik8s.node", "minik8s.store", "minik8s.consensus",
                                 "minik8s.api.server"), id="controllers"),
])
def test_layering_parts_use_only_the_api(folder: str, forbidden: tuple[str, ...]) -> None:
    """scheduler, controllers and node import only `minik8s.api` (not each other); `api` imports none of them."""
    bad = {file: sorted(m for m in modules if m.startswith(forbidden))
           for file, modules in imported_modules(folder).items()}
    assert {file: mods for file, mods in bad.items() if mods} == {}
