"""Run converted promqltest files (promqltest_convert.py) through promtool 3 and `rules test` in mode 3.

    .venv/bin/python tests/promql/promqltest_measure.py OUT_DIR/*.yaml

Prints, per file and in total, the cases both pass, both fail with the same message (the same
answer, which the promqltest expectation does not match in promtool's exact comparison either),
and the ones where they disagree (with promtool's and our message), so each can be looked at.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import yaml

from agent.promql import PromQLCompat, Semantics
from agent.ruler.ruletest import run_test_file

PROMTOOL = subprocess.run(["scripts/build-promtool3"], capture_output=True, text=True, check=True).stdout.strip()
CASE = re.compile(r'^    expr: (".*?"), time: (\S+?),(.*(?:\n        .*)*)', re.MULTILINE)


def failing(text: str) -> dict[tuple[str, str], str]:
    """The failing cases of a `test rules` output: (quoted expr, time) -> what was said."""
    return {(m[1], m[2]): m[3].strip() for m in CASE.finditer(text)}


def cases(path: Path) -> list[tuple[str, str]]:
    from agent.gocompat.duration import format_duration, parse_duration
    from agent.model import go_quote

    out = []
    for group in yaml.safe_load(path.read_text())["tests"]:
        for case in group["promql_expr_test"]:
            out.append((go_quote(case["expr"]), format_duration(parse_duration(str(case["eval_time"])))))
    return out


def measure(path: Path) -> tuple[int, int, list[str]]:
    command = [PROMTOOL, "--enable-feature=promql-experimental-functions", "test", "rules", path.name]
    stderr = subprocess.run(command, cwd=path.parent, capture_output=True, text=True, check=False).stderr
    theirs = failing(stderr)
    if "FAILED:" in stderr and not theirs:
        raise SystemExit(f"{path.name}: promtool refused the whole file:\n{stderr[:2000]}")
    semantics = Semantics(PromQLCompat.V3, experimental_functions=True)
    ours = failing("\n".join(run_test_file(str(path), io.StringIO(), semantics)))
    both_pass = both_fail = 0
    differ = []
    for key in cases(path):
        if key not in theirs and key not in ours:
            both_pass += 1
        elif key in theirs and key in ours and theirs[key] == ours[key]:
            both_fail += 1  # with the same message: the same answer
        else:
            differ.append(
                f"{key[0]} @ {key[1]}\n  promtool: {theirs.get(key, 'pass')}\n  ours: {ours.get(key, 'pass')}"
            )
    return both_pass, both_fail, differ


if __name__ == "__main__":
    totals = [0, 0, 0]
    for name in sys.argv[1:]:
        passed, failed, differ = measure(Path(name))
        totals = [totals[0] + passed, totals[1] + failed, totals[2] + len(differ)]
        print(f"{Path(name).name}: both pass {passed}, both fail {failed}, differ {len(differ)}")
        for line in differ:
            print("  " + line.replace("\n", "\n  "))
    print(f"TOTAL: both pass {totals[0]}, both fail {totals[1]}, differ {totals[2]}")
