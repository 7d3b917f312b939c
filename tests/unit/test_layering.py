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
    pytest.param("serverless", ("minik8s.controllers", "minik8s.scheduler", "minik8s.node", "minik8s.store",
                                "minik8s.consensus", "minik8s.api.server", "minik8s.cli"), id="serverless"),
])
def test_layering_parts_use_only_the_api(folder: str, forbidden: tuple[str, ...]) -> None:
    """scheduler, controllers and node import only `minik8s.api` (not each other); `api` imports none of them."""
    bad = {file: sorted(m for m in modules if m.startswith(forbidden))
           for file, modules in imported_modules(folder).items()}
    assert {file: mods for file, mods in bad.items() if mods} == {}


# Every part's own modules, and the parts each may import (DESIGN.md section 1). `api` means the
# client-side API library, `api.server` excluded; only the composition root imports the rest.
ALLOWED: dict[str, tuple[str, ...]] = {
    "store": ("minik8s.store",),
    "consensus": ("minik8s.store", "minik8s.consensus"),
    "api/server": ("minik8s.api", "minik8s.store", "minik8s.consensus"),
    "api": ("minik8s.api",),
    "scheduler": ("minik8s.api", "minik8s.scheduler"),
    "controllers": ("minik8s.api", "minik8s.controllers"),
    "node": ("minik8s.api", "minik8s.node"),
    "chaos": ("minik8s.api", "minik8s.chaos"),
    "serverless": ("minik8s.api", "minik8s.serverless"),
    "cli": ("minik8s.api", "minik8s.cli", "minik8s.chaos"),
}
# The composition root: the only modules that may import every part, to start processes
# (named in docs/architecture.md).
COMPOSITION_ROOT = ("cli/servers.py", "cli/node.py", "cli/localcluster.py")


def _part(file: str) -> str:
    return "api/server" if file.startswith("api/server/") else file.split("/")[0]


def test_layering_only_the_composition_root_imports_across_parts() -> None:
    """Every module of every part imports only what its part may; `api.server` only from the root."""
    bad: dict[str, list[str]] = {}
    for folder in {f.split("/")[0] for f in ALLOWED}:
        for file, modules in imported_modules(folder).items():
            if file in COMPOSITION_ROOT:
                continue
            allowed = ALLOWED[_part(file)]
            server_ok = _part(file) == "api/server"
            wrong = sorted(m for m in modules if not m.startswith(allowed)
                           or (m.startswith("minik8s.api.server") and not server_ok))
            if wrong:
                bad[file] = wrong
    assert bad == {}


def test_layering_composition_root_is_documented() -> None:
    """docs/architecture.md names every composition-root module."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert all(f"`{file}`" in text for file in COMPOSITION_ROOT)
