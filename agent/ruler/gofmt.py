"""How Go prints labels, floats and durations, so our rule-test failures read like promtool's."""

from __future__ import annotations

import math
from decimal import Decimal

from agent.model import Labels, go_quote


def labels_string(labels: Labels) -> str:
    """labels.Labels.String(): `{a="1", b="2"}`, in the order given."""
    return "{" + ", ".join(f"{name}={go_quote(value)}" for name, value in labels) + "}"


def float_e(value: float) -> str:
    """strconv.FormatFloat(v, 'E', -1, 64): the shortest digits that round-trip, `1.5E+00`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0E+00"
    parts = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, parts.digits)).lstrip("0")
    exponent = len("".join(map(str, parts.digits))) + int(parts.exponent) - 1
    digits = digits.rstrip("0") or "0"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}E{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def indent_lines(text: str, indent: str) -> str:
    """promtool's indentLines: every line but the first prefixed with `indent`."""
    lines = text.split("\n")
    return "\n".join([lines[0], *(indent + line for line in lines[1:])])
