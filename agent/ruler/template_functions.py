"""Prometheus' template functions (template/template.go in 2.42), registered for alert templates.

FUNCTIONS is Go's builtins plus what Prometheus adds for alert templates (humanize*,
stripPort, title, reReplaceAll, ...); REFUSED names what Prometheus defines that tripwired
refuses, with the reason given to the rule author.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from agent.gotemplate import BUILTINS, Function, TemplateError, Value
from agent.gotemplate.fmt import Spec, format_arg, print_value
from agent.gotemplate.regexp import match_string, replace_all
from agent.gotemplate.strconv import parse_float
from agent.gotemplate.value import go_type

# Functions Prometheus defines that tripwired refuses, with the reason given to the rule author.
REFUSED: Mapping[str, str] = {
    "query": "it runs a PromQL query against a Prometheus server",
    "first": "it works on query results",
    "label": "it works on query results",
    "value": "it works on query results",
    "strvalue": "it works on query results",
    "sortByLabel": "it works on query results",
    "args": "it only serves console templates",
    "tmpl": "it only exists in console templates",
    "safeHtml": "it only serves HTML console templates",
    "pathPrefix": "it needs the web server's URL",
    "externalURL": "it needs the web server's URL; use $externalURL",
    "graphLink": "it needs the web server's URL",
    "tableLink": "it needs the web server's URL",
    "toTime": "it returns a Go time.Time, which tripwired does not model",
    "parseDuration": "tripwired does not implement it",
    "html": "tripwired does not implement it",
    "js": "tripwired does not implement it",
    "urlquery": "tripwired does not implement it",
    "call": "it calls Go functions",
    "slice": "tripwired does not implement it",
}


def _convert_to_float(value: Value) -> float:
    """Prometheus' convertToFloat: the humanize functions accept numbers and numeric strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TemplateError(f"can't convert {go_type(value)} to float")
    return parse_float(value) if isinstance(value, str) else float(value)


def _g4(value: float) -> str:
    """fmt.Sprintf("%.4g", value), the precision every humanize function uses."""
    return format_arg(value, Spec(verb="g", precision=4))


def _scale_down(value: float, base: float, prefixes: str | Sequence[str]) -> tuple[float, str]:
    """Divide by base while the magnitude is at least base, returning the last prefix used."""
    prefix = ""
    for candidate in prefixes:
        if abs(value) < base:
            break
        prefix = candidate
        value /= base
    return value, prefix


def _scale_up(value: float) -> tuple[float, str]:
    """Multiply by 1000 while the magnitude is below 1, returning the last SI prefix used."""
    prefix = ""
    for candidate in "munpfazy":
        if abs(value) >= 1:
            break
        prefix = candidate
        value *= 1000
    return value, prefix


def _humanize(arg: Value) -> str:
    """Prometheus' humanize: SI prefixes, four significant digits."""
    value = _convert_to_float(arg)
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    if abs(value) >= 1:
        scaled, prefix = _scale_down(value, 1000, "kMGTPEZY")
    else:
        scaled, prefix = _scale_up(value)
    return _g4(scaled) + prefix


def _humanize_1024(arg: Value) -> str:
    """Prometheus' humanize1024: binary prefixes (ki, Mi, ...), four significant digits."""
    value = _convert_to_float(arg)
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    scaled, prefix = _scale_down(value, 1024, ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"))
    return _g4(scaled) + prefix


def _go_int64(value: float) -> int:
    """Go's int64(value) on amd64: truncation, and the minimum int64 when out of range."""
    return int(value) if -(2.0**63) <= value < 2.0**63 else -(2**63)


def _go_quotient(dividend: int, divisor: int) -> int:
    """Go's integer division, which truncates toward zero."""
    quotient = abs(dividend) // divisor
    return quotient if dividend >= 0 else -quotient


def _go_remainder(dividend: int, divisor: int) -> int:
    """Go's %, whose result has the sign of the dividend."""
    return dividend - _go_quotient(dividend, divisor) * divisor


def _humanize_whole_seconds(value: float) -> str:
    """The days/hours/minutes part of humanizeDuration for a magnitude of at least a minute."""
    sign = "-" if value < 0 else ""
    # Huge values overflow Go's int64 conversion; the odd output is Prometheus' own.
    total = _go_int64(abs(value))
    seconds = _go_remainder(total, 60)
    minutes = _go_remainder(_go_quotient(total, 60), 60)
    hours = _go_remainder(_go_quotient(total, 3600), 24)
    days = _go_quotient(total, 86400)
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    return f"{sign}{minutes}m {seconds}s"


def _humanize_duration(arg: Value) -> str:
    """Prometheus' humanizeDuration: seconds as "1d 2h 3m 4s", or with an SI prefix below one second."""
    value = _convert_to_float(arg)
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return _g4(value) + "s"
    if abs(value) >= 60:
        return _humanize_whole_seconds(value)
    if abs(value) >= 1:
        return ("-" if value < 0 else "") + _g4(abs(value)) + "s"
    scaled, prefix = _scale_up(value)
    return f"{_g4(scaled)}{prefix}s"


def _humanize_percentage(arg: Value) -> str:
    """Prometheus' humanizePercentage: a ratio as a percentage with four significant digits."""
    return _g4(_convert_to_float(arg) * 100) + "%"


def _go_time_string(milliseconds: int) -> str:
    """Go's time.Time.String() for a UTC instant: "2006-01-02 15:04:05.999999999 +0000 UTC"."""
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)
    fraction = f".{instant.microsecond // 1000:03d}".rstrip("0").rstrip(".")
    return f"{instant:%Y-%m-%d %H:%M:%S}{fraction} +0000 UTC"


def _humanize_timestamp(arg: Value) -> str:
    """Prometheus' humanizeTimestamp: Unix seconds as a UTC time, at millisecond precision."""
    value = _convert_to_float(arg)
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    nanoseconds = value * 1e9
    # Go compares against float64(MaxInt64), which is 2**63, so 2**63 itself gets through and wraps.
    if not -(2.0**63) <= nanoseconds <= 2.0**63:
        raise TemplateError(
            f"{print_value(value)} cannot be represented as a nanoseconds timestamp since it overflows int64"
        )
    whole = _go_int64(nanoseconds)
    # model.TimeFromUnixNano divides with Go's truncation toward zero.
    milliseconds = abs(whole) // 1_000_000 * (1 if whole >= 0 else -1)
    return _go_time_string(milliseconds)


def _split_host_port(host_port: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort, returning None where Go returns an error."""
    if host_port.startswith("["):
        close = host_port.find("]")
        if close < 0 or not host_port.startswith(":", close + 1):
            return None
        host, port = host_port[1:close], host_port[close + 2 :]
        return None if ":" in port or "[" in host or "]" in port else (host, port)
    colon = host_port.rfind(":")
    if colon < 0 or ":" in host_port[:colon] or "[" in host_port or "]" in host_port:
        return None
    return host_port[:colon], host_port[colon + 1 :]


def _strip_port(host_port: str) -> str:
    """Prometheus' stripPort: the host part of host:port, or the input when it has no port."""
    split = _split_host_port(host_port)
    return host_port if split is None else split[0]


_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


def _looks_like_ip(host: str) -> bool:
    """Approximate Go's net.ParseIP: dotted IPv4, or anything with a colon (IPv6)."""
    return bool(_IPV4.fullmatch(host)) or ":" in host


def _strip_domain(host_port: str) -> str:
    """Prometheus' stripDomain: the first label of a host name, keeping any port; IPs unchanged."""
    split = _split_host_port(host_port)
    host, port = (host_port, "") if split is None else split
    if _looks_like_ip(host):
        return host_port
    short = host.split(".")[0]
    if not port:
        return short
    return f"[{short}]:{port}" if ":" in short else f"{short}:{port}"


def _title(text: str) -> str:
    """Go's strings.Title: upper-case the first letter of each word."""
    out: list[str] = []
    previous = " "
    for char in text:
        out.append(_to_title_rune(char) if _is_title_separator(previous) else char)
        previous = char
    return "".join(out)


def _is_title_separator(char: str) -> bool:
    """Go's isSeparator in strings.Title."""
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdigit():
        return False
    return char.isspace()


def _to_title_rune(char: str) -> str:
    """unicode.ToTitle for one rune; Go never turns one rune into several."""
    titled = char.title()
    return titled if len(titled) == 1 else char


def _to_upper(text: str) -> str:
    """Go's strings.ToUpper: rune by rune, so ß stays ß."""
    return "".join(upper if len(upper := char.upper()) == 1 else char for char in text)


def _to_lower(text: str) -> str:
    """Go's strings.ToLower: rune by rune, using the first rune of a multi-rune lowering."""
    return "".join(char.lower()[0] for char in text)


FUNCTIONS: Mapping[str, Function] = {
    **BUILTINS,
    "humanize": Function(("any",), False, _humanize),
    "humanize1024": Function(("any",), False, _humanize_1024),
    "humanizeDuration": Function(("any",), False, _humanize_duration),
    "humanizePercentage": Function(("any",), False, _humanize_percentage),
    "humanizeTimestamp": Function(("any",), False, _humanize_timestamp),
    "title": Function(("string",), False, _title),
    "toUpper": Function(("string",), False, _to_upper),
    "toLower": Function(("string",), False, _to_lower),
    "reReplaceAll": Function(("string", "string", "string"), False, replace_all),
    "match": Function(("string", "string"), False, match_string),
    "stripPort": Function(("string",), False, _strip_port),
    "stripDomain": Function(("string",), False, _strip_domain),
}
