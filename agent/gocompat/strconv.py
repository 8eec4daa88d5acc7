"""Go's strconv.FormatFloat with precision -1 (the shortest digits that read back to the same float).

Prometheus writes numbers this way in places users compare with tripwired's output: the API's
alert values (`'e'`), promtool's test reports (`'E'`), count_values' label (`'f'`), templates' `%v`
and OpenMetrics bucket labels (`'g'`).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal


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
    """The shortest round-trip digits of a non-negative float (no leading or trailing zeros, "0" for
    zero) and where the decimal point falls: value = 0.<digits> * 10**point."""
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
