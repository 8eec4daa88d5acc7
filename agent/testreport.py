"""promtool's report of test files (`Unit Testing:  FILE`, `SUCCESS` or `FAILED:` with each error).

Shared by `rules test` (agent/ruler) and `routes test` (agent/notify), which may not import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO


def report_files(files: Sequence[str], run: Callable[[str], list[str]], out: TextIO) -> int:
    """Run each file and report it as promtool does: 0 when every file passed, 1 otherwise."""
    failed = False
    for path in files:
        out.write(f"Unit Testing:  {path}\n")
        errors = run(path)
        if errors:
            out.write("  FAILED:\n" + "".join(f"{e}\n\n" for e in errors))
            failed = True
        else:
            out.write("  SUCCESS\n")
        out.write("\n")
    return 1 if failed else 0
