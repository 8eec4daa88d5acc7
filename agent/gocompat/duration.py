"""Prometheus' duration notation (model.Duration): `1h30m`, `90s`, `0`, in whole milliseconds.

Config files, rule files (`for:`, `interval:`), rule-test files, the CLI's `--duration` flags and
the status page's silence form all read durations with `parse_duration`, as Prometheus and
Alertmanager read theirs with prometheus/common's model.ParseDuration. PromQL range durations
inside expressions are the PromQL parser's business (they also accept `[90]` as seconds).
"""

from __future__ import annotations

from agent.model import go_quote

_MS_PER_UNIT = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}
_MS_PER_UNIT["ms"] = 1  # last: the order is the order units must be written in, largest first
_UNIT_ORDER = {unit: rank for rank, unit in enumerate(_MS_PER_UNIT)}
_ASCII_DIGITS = frozenset("0123456789")


def parse_duration(text: str) -> int:
    """Milliseconds of a Prometheus duration; ValueError with Prometheus' message when it is not one.

    As model.ParseDuration: units from `y` down to `ms`, each at most once and in that order, ASCII
    digits only, no sign, no fraction, no spaces; a bare `0` is allowed, an empty string is not.
    """
    if text == "0":
        return 0
    if not text:
        raise ValueError("empty duration string")
    total, last_rank, pos = 0, -1, 0
    while pos < len(text):
        count, unit, pos = _next_term(text, pos)
        rank = _UNIT_ORDER.get(unit, -1)
        if count is None or rank <= last_rank:
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        total += count * _MS_PER_UNIT[unit]
        last_rank = rank
    return total


def _next_term(text: str, pos: int) -> tuple[int | None, str, int]:
    """One `<digits><unit>` term at pos: its number (None without digits), its unit and where it ends."""
    start = pos
    while pos < len(text) and text[pos] in _ASCII_DIGITS:
        pos += 1
    count = int(text[start:pos]) if pos > start else None
    unit_start = pos
    while pos < len(text) and text[pos] not in _ASCII_DIGITS:
        pos += 1
    return count, text[unit_start:pos], pos


def format_duration(ms: int) -> str:
    """The duration as model.Duration.String() prints it: `1m30s`, `1w`, `0s` (largest units first)."""
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in _MS_PER_UNIT.items():
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_go_duration(ms: int) -> str:
    """Go's time.Duration.String() of whole milliseconds: `1m30s`, `1h0m0s`, `500ms`, `1.5s`.

    This is not Prometheus' notation (hours are the largest unit, zero units in between are
    kept), but promtool prints evaluation times with it, so its reports need it too.
    """
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = str(rest // 1000) + (f".{rest % 1000:03d}".rstrip("0") if rest % 1000 else "")
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"
