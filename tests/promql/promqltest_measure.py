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


MAX_RUNS = 20


def _unmet(
    keys: list[tuple[str, str]], answers: list[dict[tuple[str, str], str]], ours: dict[tuple[str, str], str]
) -> bool:
    return any(ours.get(key, "pass") not in {theirs.get(key, "pass") for theirs in answers} for key in keys)


def measure(path: Path, promtool: str, runs: int = 3) -> tuple[int, int, list[str]]:
    """Cases both pass, both fail alike, and those that differ (described), of one converted file.

    promtool loads a test's series in random order, so a sum can round differently from one run to
    the next: it runs `runs` times (up to MAX_RUNS while a case differs), and a case agrees when our
    answer is one of promtool's.
    """
    command = [promtool, "--enable-feature=promql-experimental-functions", "test", "rules", path.name]
    semantics = Semantics(PromQLCompat.V3, experimental_functions=True)
    ours = failing("\n".join(run_test_file(str(path), io.StringIO(), semantics)))
    answers: list[dict[tuple[str, str], str]] = []
    # More runs only while some case has not yet met our answer: a sum's rounding depends on an
    # order promtool picks at random, so three runs can all miss the one tripwired gives.
    while len(answers) < runs or (len(answers) < MAX_RUNS and _unmet(cases(path), answers, ours)):
        run = subprocess.run(command, cwd=path.parent, capture_output=True, check=False)
        stderr = run.stderr.decode(errors="replace")  # labels of invalid UTF-8 are printed as they are
        answers.append(failing(stderr))
        if "FAILED:" in stderr and not answers[-1]:
            raise SystemExit(f"{path.name}: promtool refused the whole file:\n{stderr[:2000]}")
    both_pass = both_fail = 0
    differ = []
    for key in cases(path):
        said = {theirs.get(key, "pass") for theirs in answers}
        if ours.get(key, "pass") not in said:
            differ.append(
                f"{key[0]} @ {key[1]}\n  promtool: {' | '.join(sorted(said))}\n  ours: {ours.get(key, 'pass')}"
            )
        elif key in ours:
            both_fail += 1  # with the same message: the same answer
        else:
            both_pass += 1
    return both_pass, both_fail, differ


if __name__ == "__main__":
    promtool = subprocess.run(["scripts/build-promtool3"], capture_output=True, text=True, check=True).stdout.strip()
    totals = [0, 0, 0]
    for name in sys.argv[1:]:
        passed, failed, differ = measure(Path(name), promtool)
        totals = [totals[0] + passed, totals[1] + failed, totals[2] + len(differ)]
        print(f"{Path(name).name}: both pass {passed}, both fail {failed}, differ {len(differ)}")
        for line in differ:
            print("  " + line.replace("\n", "\n  "))
    print(f"TOTAL: both pass {totals[0]}, both fail {totals[1]}, differ {totals[2]}")
