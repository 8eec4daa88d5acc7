"""Go's strconv for floats: ParseFloat, and FormatFloat with precision -1 (the shortest digits).

Prometheus reads numbers with ParseFloat where users write them as text (histogram `le` labels,
templates' arguments), and writes them with FormatFloat where users compare output: the API's
alert values (`'e'`), promtool's test reports (`'E'`), count_values' label (`'f'`), templates' `%v`
and OpenMetrics bucket labels (`'g'`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Literal

from agent.model import go_quote

# Go accepts underscores between digits (and after a base prefix), as in Go source.
_DIGITS = r"[0-9]+(?:_[0-9]+)*"  # ASCII digits: Python's \d would take any Unicode digit
_HEX_DIGITS = r"_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
_FLOAT_SYNTAX = re.compile(rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?")
_HEX_MANTISSA = rf"(?:{_HEX_DIGITS}(?:\.(?:{_HEX_DIGITS})?)?|\.{_HEX_DIGITS})"
_HEX_FLOAT_SYNTAX = re.compile(rf"[+-]?0[xX]{_HEX_MANTISSA}[pP][+-]?{_DIGITS}")
_SPECIAL_FLOATS = {
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
}


def parse_float(text: str) -> float:
    """Go's strconv.ParseFloat(text, 64): ValueError with Go's message for what Go refuses.

    Unlike Python's float(): no surrounding spaces, ASCII digits only, `_` between digits,
    hexadecimal mantissas with a `p` exponent, and a value beyond the float64 range is an error.
    """
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    if _FLOAT_SYNTAX.fullmatch(text):
        result = float(text.replace("_", ""))
    elif _HEX_FLOAT_SYNTAX.fullmatch(text):
        result = float.fromhex(text.replace("_", ""))
    else:
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if math.isinf(result):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range")
    return result


def format_float(value: float, verb: Literal["f", "e", "E", "g", "G"]) -> str:
    """strconv.FormatFloat(value, verb, -1, 64).

    `f` never has an exponent, `e`/`E` always has one, `g`/`G` has one when the decimal exponent
    is below -4 or at least 6 (Go's rule for the shortest precision): `1e+06`, `123456`, `1e-05`.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    digits, point = _shortest_digits(abs(value))
    if verb in "gG":
        exponent = point - 1 if digits != "0" else 0
        verb = "f" if -4 <= exponent < 6 else "e" if verb == "g" else "E"
    if verb == "f":
        return sign + _fixed(digits, point)
    return sign + _exponent(digits, point, verb)


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-trip digits of a non-negative float, and where its decimal point falls.

    value = 0.<digits> * 10**point; the digits have no leading or trailing zeros ("0" for zero).
    """
    if value == 0:
        return "0", 1
    parts = Decimal(repr(value)).as_tuple()
    all_digits = "".join(map(str, parts.digits))
    point = len(all_digits) + int(parts.exponent)
    stripped = all_digits.lstrip("0")
    point -= len(all_digits) - len(stripped)
    return stripped.rstrip("0") or "0", point


def _fixed(digits: str, point: int) -> str:
    """Digits with the point placed, as %f with the shortest precision: `0.001`, `1500`, `2.5`."""
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _exponent(digits: str, point: int, verb: str) -> str:
    """Digits as d.ddd followed by the exponent, at least two digits: `1.5e+00`, `1E-05`."""
    exponent = point - 1 if digits != "0" else 0
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}{verb}{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def format_openmetrics_float(value: float) -> str:
    """Prometheus' labels.FormatOpenMetricsFloat: `1.0`, `0.5`, `1e+06`, `+Inf`, `NaN` (a float always shows as one)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0.0"  # -0 too, as Go's f == 0
    text = format_float(value, "g")
    return text if "." in text or "e" in text else text + ".0"
