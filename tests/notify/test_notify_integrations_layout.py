"""The integrations' layout: one sub-package each, registered once, none importing another."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
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


def test_every_registration_names_its_own_packages_sender() -> None:
    """The class a registration names (imported only when a receiver uses it) exists in its sub-package."""
    for registration in registry.INTEGRATIONS:
        package, _, name = registration.sender.partition(":")
        assert package == registration.kind
        module = importlib.import_module(f"agent.notify.integrations.{package}")
        assert isinstance(getattr(module, name), type), registration


def test_a_daemon_without_receivers_loads_no_integration() -> None:
    """Importing the daemon (and everything a config without a route uses) loads no dispatcher, outbox,
    integration, HTTP client, page templates or remote_write codec: they cost memory only when configured."""
    code = (
        "import sys, agent.runtime.daemon; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'jinja2', 'smtplib', 'cramjam', "
        "'bcrypt', 'google') or m.startswith(('agent.notify.integrations', 'agent.remote.', 'agent.notify.dispatch', "
        "'agent.notify.outbox', 'agent.notify.template', 'agent.runtime.alertmanager_api'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
