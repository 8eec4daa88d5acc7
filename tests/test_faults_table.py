"""The fault suite's hooks (tests/faults/faults_table.py), run by a real pytest on a small project of its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PASSING = '''
def test_a_fifo():
    """A FIFO named x.prom in the textfile directory
    Reported per file; | the other files are read.
    """
'''
FAILING = '''
def test_a_full_disk():
    """A full state disk"""
    assert False
'''
UNDOCUMENTED = """
def test_something():
    pass
"""


def project(tmp_path: Path, **tests: str) -> Path:
    """tmp/tests/faults/ with the real hook and the given test files; returns the project root."""
    faults = tmp_path / "tests" / "faults"
    faults.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "faults" / "faults_table.py", faults / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name, text in tests.items():
        (faults / f"{name}.py").write_text(text)
    return tmp_path


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120, check=False)


def test_a_run_of_the_fault_directory_writes_one_row_per_test(tmp_path: Path) -> None:
    root = project(tmp_path, test_fifo=PASSING, test_disk=FAILING)
    assert 1 == pytest_in(root, "tests/faults").returncode
    table = (root / "docs" / "faults.md").read_text()
    assert [
        "| test_disk.py | `test_a_full_disk` | A full state disk | — | failed |",
        "| test_fifo.py | `test_a_fifo` | A FIFO named x.prom in the textfile directory "
        "| Reported per file; \\| the other files are read. | passed |",
    ] == [line for line in table.splitlines() if line.startswith("| test_")]
    assert "2 faults tried: 1 passed, 1 failed." in table


def test_a_partial_run_leaves_the_table_alone(tmp_path: Path) -> None:
    root = project(tmp_path, test_fifo=PASSING)
    assert 0 == pytest_in(root, "tests/faults/test_fifo.py").returncode
    assert 0 == pytest_in(root, "tests/faults", "-k", "fifo").returncode
    assert not (root / "docs" / "faults.md").exists()


def test_a_fault_test_without_a_docstring_fails_the_run(tmp_path: Path) -> None:
    root = project(tmp_path, test_fifo=PASSING, test_bare=UNDOCUMENTED)
    result = pytest_in(root, "tests")
    assert 4 == result.returncode  # pytest's usage error: nothing ran
    assert "missing: tests/faults/test_bare.py::test_something" in result.stderr


def test_a_parallel_run_writes_every_workers_results_into_one_table(tmp_path: Path) -> None:
    # As the suite loads it: a plugin of the top conftest, which xdist's controller loads too.
    root = project(tmp_path, test_fifo=PASSING, test_disk=FAILING)
    faults = root / "tests" / "faults"
    (faults / "conftest.py").rename(faults / "faults_table.py")
    (root / "tests" / "__init__.py").write_text("")
    (faults / "__init__.py").write_text("")
    (root / "tests" / "conftest.py").write_text('pytest_plugins = ["tests.faults.faults_table"]\n')
    assert 1 == pytest_in(root, "-n", "2", "tests").returncode
    table = (root / "docs" / "faults.md").read_text()
    assert "2 faults tried: 1 passed, 1 failed." in table
