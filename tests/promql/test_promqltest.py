"""Prometheus' own PromQL tests, answered alike by promtool 3 and `tripwired rules test` in mode 3.

The testdata of promql/promqltest at the Prometheus version scripts/build-promtool3 pins comes with
the module the script builds promtool 3 from (the Go module cache). Each file is converted to a
rule-test file (promqltest_convert.py: instant evaluations, range evaluations as one instant case
per step, expected failures as cases both must fail alike; what a rule-test file cannot express is
left out and counted) and run through both (promqltest_measure.py). Every case
must come out the same: both pass, or both fail with the same message. promtool loads series in
random order, so a case whose sum rounds differently from run to run agrees when our answer is one
of promtool's answers over three runs, or up to twenty while it has not met one yet.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest
from promqltest_convert import convert, write
from promqltest_measure import measure

from tests.promtools import BUILD_SCRIPT, promtool3, waits_for_promtool3

# promql/promqltest/testdata at the pinned version: the files with instant float evaluations.
FILES = (
    "aggregators",
    "at_modifier",
    "collision",
    "duration_expression",
    "extended_vectors",
    "fill-modifier",
    "functions",
    "histograms",
    "info",
    "literals",
    "name_label_dropping",
    "native_histograms",
    "operators",
    "range_queries",
    "selectors",
    "staleness",
    "subquery",
    "trig_functions",
    "type_and_unit",
    "unquoted_utf8_names",
)
# Native-histogram or start-timestamp series in every group: nothing a rule-test file can hold.
NOTHING_TO_CONVERT = ("limit", "start_timestamps")


@functools.cache
def promqltest_dir() -> Path:
    promtool3()  # the build downloads the module
    version = subprocess.run([str(BUILD_SCRIPT), "--version"], capture_output=True, text=True, check=True).stdout
    go = (
        "go"
        if subprocess.run(["which", "go"], capture_output=True, check=False).returncode == 0
        else "/usr/local/go/bin/go"
    )
    cache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    return Path(cache) / f"github.com/prometheus/prometheus@{version.strip()}/promql/promqltest/testdata"


@waits_for_promtool3
def test_the_list_is_the_promqltest_dir() -> None:
    assert sorted(p.stem for p in promqltest_dir().glob("*.test")) == sorted(FILES + NOTHING_TO_CONVERT)
    for name in NOTHING_TO_CONVERT:
        assert write(Path(name), convert((promqltest_dir() / f"{name}.test").read_text()), Path("/nonexistent")) == 0


@waits_for_promtool3
@pytest.mark.parametrize("name", FILES)
def test_promtool3_and_tripwired_agree(name: str, tmp_path: Path) -> None:
    assert write(Path(name), convert((promqltest_dir() / f"{name}.test").read_text()), tmp_path) > 0
    _, _, differ = measure(tmp_path / f"{name}.yaml", promtool3())
    assert differ == []
