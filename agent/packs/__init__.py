"""The shipped rule packs: Prometheus rule files installed with the package, and their promtool tests.

A config names one as `builtin:NAME` in `rule_files` (`builtin:host`, `builtin:*` for all of them), so
`pip install .`, the Debian package and the container image all load the same files from one place in
the tree. The tests of pack NAME are `tests/NAME.yaml` beside it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUILTIN_PREFIX = "builtin:"


def packs_directory() -> Path:
    """The directory the packs are installed in (a plain directory: the package is never zipped)."""
    return Path(str(resources.files(__package__)))


def pack_names() -> list[str]:
    """The name of every shipped pack, sorted: `agent`, `host`, ..."""
    return sorted(path.stem for path in packs_directory().glob("*.yaml"))


def is_builtin(pattern: str) -> bool:
    """Whether a `rule_files` entry names shipped packs (`builtin:NAME`) rather than a path."""
    return pattern.startswith(BUILTIN_PREFIX)


def builtin_path(pattern: str) -> str:
    """The file (or glob, for `builtin:*`) a `builtin:NAME` entry stands for."""
    return str(packs_directory() / f"{pattern.removeprefix(BUILTIN_PREFIX)}.yaml")


def builtin_errors(patterns: list[str]) -> list[str]:
    """`rule_files` entries that name no shipped pack, with the names that exist."""
    known = pack_names()
    errors = []
    for index, pattern in enumerate(patterns):
        name = pattern.removeprefix(BUILTIN_PREFIX)
        if is_builtin(pattern) and name != "*" and name not in known:
            errors.append(f"rule_files[{index}]: no shipped rule pack {name!r} (known: {', '.join(known)}, *)")
    return errors
