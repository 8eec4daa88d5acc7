"""The integrations' layout: one sub-package each, registered once, none importing another."""

from __future__ import annotations

import ast
from pathlib import Path

from agent.notify.integrations import registry

INTEGRATIONS_DIR = Path(registry.__file__).parent


def integration_packages() -> list[str]:
    return sorted(p.name for p in INTEGRATIONS_DIR.iterdir() if (p / "__init__.py").is_file())


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_every_integration_sub_package_is_registered() -> None:
    assert integration_packages() == sorted(r.kind for r in registry.INTEGRATIONS)


def test_no_integration_imports_another() -> None:
    crossings = [
        (package, module)
        for package in integration_packages()
        for path in (INTEGRATIONS_DIR / package).rglob("*.py")
        for module in imported_modules(path)
        for other in integration_packages()
        if other != package and module.startswith(f"agent.notify.integrations.{other}")
    ]
    assert [] == crossings
