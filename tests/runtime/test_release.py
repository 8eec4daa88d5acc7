"""`tripwired release mark`: the textfile it writes, atomically, and what the exposition parser reads from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.runtime.release import mark_release
from tests.conftest import REPO


def test_a_marked_release_is_an_info_metric_and_a_timestamp_labelled_with_name_and_version(tmp_path: Path) -> None:
    path = mark_release(tmp_path, "shop", "2.0.1", 1_700_000_000.5)

    samples = {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }

    labels = (("release", "shop"), ("version", "2.0.1"))
    assert {
        ("tripwired_release_info", labels, 1.0),
        ("tripwired_release_timestamp_seconds", labels, 1_700_000_000.5),
    } == samples
    assert ["tripwired_release_shop.prom"] == [p.name for p in tmp_path.iterdir()]  # no temporary file left


def test_marking_a_new_version_replaces_the_old_one(tmp_path: Path) -> None:
    mark_release(tmp_path, "shop", "1", 1.0)
    path = mark_release(tmp_path, "shop", "2", 2.0)

    assert 'version="2"' in path.read_text() and 'version="1"' not in path.read_text()


def test_a_release_name_that_is_no_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"invalid release name '\.\./x'"):
        mark_release(tmp_path, "../x", "", 1.0)


def test_the_command_takes_the_directory_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"collectors:\n  textfile: {{directory: {tmp_path}}}\n")

    result = subprocess.run(
        [sys.executable, "-m", "agent", "release", "mark", "shop", f"--config={config}", "--time=2026-01-01T00:00:00Z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert 0 == result.returncode, result.stderr
    assert (
        'tripwired_release_timestamp_seconds{release="shop"} 1767225600\n'
        in (tmp_path / "tripwired_release_shop.prom").read_text()
    )
