"""PromQL regex matchers: time to test 100,000 label values, RE2 (agent.gocompat.regex) against Python's re.

A regex matcher runs per series per evaluation, so its per-value cost is what a selector over a
large family pays. `re` is the engine tripwired used before RE2 (fullmatch with DOTALL, as
Prometheus 3 anchors `^(?s:pattern)$`); `RE2` is what PromQL, relabelling and the notifier use now,
with Prometheus' shortcuts for literals, alternations of literals and `.*`-wrapped literals.
Run: .venv/bin/python -m bench.regex_match [--values 100000] [--repeats 5]   (--values 20000: within the memo)
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable

from agent.gocompat.regex import compile_anchored

PATTERNS = [
    ("literal", r"host-42\.example:9100"),
    ("literal, unescaped dots", "host-42.example:9100"),
    ("alternation of literals", "job-1|job-3|job-5"),
    ("prefix", "host-1.*"),
    ("suffix", ".*:9100"),
    ("contains", ".*example.*"),
    ("anything but empty", ".+"),
    ("character classes", r"host-[0-9]+\.example:9[0-9]{3}"),
    ("case-insensitive", "(?i)HOST-1.*"),
    ("alternation with classes", r"host-(1|2|3)\d*\.example:9100"),
]


def values(count: int) -> list[str]:
    """Label values shaped like instances: `host-N.example:9100`."""
    return [f"host-{n}.example:9100" for n in range(count)]


def median_seconds(test: Callable[[str], object], texts: list[str], repeats: int) -> float:
    """The median time to test every value once."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            test(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print one Markdown row per pattern."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    texts = values(args.values)
    print(f"{args.values:,} values; RE2's first pass (cold) and later passes (an evaluation's steady state)\n")
    print("| pattern | kind | shortcut | re (before) | RE2 first pass | RE2 later passes | later / re |")
    print("|---|---|---|---|---|---|---|")
    for kind, pattern in PATTERNS:
        python = re.compile(pattern, re.DOTALL).fullmatch
        regex = compile_anchored(pattern)
        re2 = regex.matches
        before = median_seconds(python, texts, args.repeats)
        cold = median_seconds(re2, texts, 1)
        warm = median_seconds(re2, texts, args.repeats)
        assert [bool(python(t)) for t in texts] == [re2(t) for t in texts]
        print(
            f"| `{pattern}` | {kind} | {'yes' if regex.shortcut else 'no'} | {before * 1000:.1f} ms "
            f"| {cold * 1000:.1f} ms | {warm * 1000:.1f} ms "
            f"| {warm / before:.2f} |"
        )


if __name__ == "__main__":
    main()
