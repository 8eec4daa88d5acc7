"""Expansion of alert label and annotation templates, as Prometheus 2.42 expands them.

Prometheus runs alert templates through Go's text/template with a small function map
(template/template.go) after prepending four variable declarations (rules/alerting.go).
This module is a safe interpreter for the subset rule authors use: a tokenizer, a parser
into an immutable tree, and an evaluator with Go's semantics for truthiness, comparison
and printing (fmt's %v, Sprint, Sprintf). There is no eval/exec, no file or network
access, and output size, loop iterations and nesting depth are bounded.

Functions that need a Prometheus server (query, first, label, ...) are refused by name
when a template is parsed, so a rule file using them fails at load time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from agent.model import go_quote

__all__ = ["Template", "TemplateError", "check_template", "expand", "parse_template"]


class TemplateError(Exception):
    """Raised when a template cannot be parsed or expanded."""


# Prometheus prepends these declarations to every alert template (rules/alerting.go).
_PROMETHEUS_DEFS = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)

# Bounds that keep a hostile or careless template from exhausting memory or time.
_MAX_OUTPUT_CHARS = 1 << 20
_MAX_LOOP_ITERATIONS = 10_000
_MAX_NESTING = 100
# Go's fmt refuses widths and precisions beyond this (fmt/print.go tooLarge).
_MAX_FMT_NUMBER = 1_000_000

_ALERT_DATA_TYPE = (
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"
)

# Functions Prometheus defines that tripwired refuses, with the reason given to the rule author.
_REFUSED_FUNCTIONS: Mapping[str, str] = {
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

_REFUSED_KEYWORDS = frozenset({"define", "template", "block"})
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "break", "continue"}) | _REFUSED_KEYWORDS


# ---------------------------------------------------------------------------------------
# Values: the Go values a template can hold.


@dataclass(frozen=True)
class _AlertData:
    """The data Prometheus hands to an alert template (template.AlertTemplateData)."""

    labels: Mapping[str, str]
    external_labels: Mapping[str, str]
    external_url: str
    value: float

    def go_field(self, name: str) -> _Value:
        """Read a field by its Go name; None if the Go struct has no such field."""
        fields: dict[str, _Value] = {
            "Labels": self.labels,
            "ExternalLabels": self.external_labels,
            "ExternalURL": self.external_url,
            "Value": self.value,
        }
        return fields.get(name)

    def go_fields(self) -> list[_Value]:
        """The fields in the Go struct's declaration order, for printing."""
        return [self.labels, self.external_labels, self.external_url, self.value]


class _NoValue:
    """Go's invalid reflect.Value, which text/template prints as "<no value>"."""


_NO_VALUE = _NoValue()

# str is Go's string, float float64, int int, bool bool, Mapping map[string]string, None nil.
_Value = str | float | int | bool | Mapping[str, str] | _AlertData | None | _NoValue


def _go_type(value: _Value) -> str:
    """Name the Go type of a value, as Go's error messages and %!verb outputs do."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _AlertData):
        return _ALERT_DATA_TYPE
    if isinstance(value, Mapping):
        return "map[string]string"
    return "<nil>"


def _is_true(value: _Value) -> bool:
    """Decide truth as text/template's isTrue does: zero values and empty things are false."""
    if isinstance(value, (str, Mapping)):
        return len(value) > 0
    if isinstance(value, (bool, int, float)):
        return value != 0
    return isinstance(value, _AlertData)


# ---------------------------------------------------------------------------------------
# Go's fmt: %v printing, Sprint and Sprintf.


def _shortest_digits(value: float) -> tuple[str, int]:
    """Return the shortest round-trip digits of a positive finite float and its decimal exponent.

    Python's repr and Go's strconv both produce the shortest string that reads back as the
    same float, so the digits agree; only the layout differs, which the callers redo.
    """
    _, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    point = len(digit_tuple) + exponent  # value == 0.<digits> * 10**point
    return digits, point


def _layout_exponent(digits: str, exponent: int, upper: bool = False) -> str:
    """Lay digits out as Go's %e does: d.ddde+XX with at least two exponent digits."""
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if exponent < 0 else "+"
    return f"{mantissa}{'E' if upper else 'e'}{sign}{abs(exponent):02d}"


def _layout_fixed(digits: str, point: int) -> str:
    """Lay digits out without an exponent, given the position of the decimal point."""
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _format_shortest_g(value: float, upper: bool = False) -> str:
    """Format a positive finite float like Go's %v / strconv 'g' with precision -1."""
    if value == 0:
        return "0"
    digits, point = _shortest_digits(value)
    exponent = point - 1
    # strconv uses precision 6 to choose %e when the precision is "shortest".
    if exponent < -4 or exponent >= 6:
        return _layout_exponent(digits, exponent, upper)
    return _layout_fixed(digits, point)


def _format_unsigned_float(value: float, spec: _Spec) -> str:
    """Format abs(value) (finite) for one of Go's float verbs; %v is %g."""
    magnitude = abs(value)
    verb = "g" if spec.verb == "v" else spec.verb
    alternate = "#" if spec.sharp else ""
    if verb in "gG" and spec.precision is None and not spec.sharp:
        return _format_shortest_g(magnitude, upper=verb == "G")
    if verb in "gG":
        # Go, like C, treats %.0g as %.1g and strips trailing zeros unless #; Python agrees.
        return format(magnitude, f"{alternate}.{6 if spec.precision is None else spec.precision}{verb}")
    return format(magnitude, f"{alternate}.{6 if spec.precision is None else spec.precision}{verb}")


@dataclass(frozen=True)
class _Spec:
    """One parsed printf directive's flags, width and precision."""

    verb: str = "v"
    plus: bool = False
    minus: bool = False
    space: bool = False
    zero: bool = False
    sharp: bool = False
    width: int | None = None
    precision: int | None = None


_PLAIN = _Spec()


def _pad(text: str, spec: _Spec, zeros: str = "after-sign") -> str:
    """Pad to the spec's width the way Go's fmt does.

    zeros says how the 0 flag applies: "after-sign" for numbers, "plain" for strings
    (Go before 1.23 zero-pads them too), "never" for words like true, NaN or <nil>.
    """
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    if not spec.zero or zeros == "never":
        return " " * fill + text
    sign = text[0] if zeros == "after-sign" and text[:1] in ("+", "-", " ") else ""
    return sign + "0" * fill + text[len(sign) :]


def _sign_prefix(negative: bool, spec: _Spec) -> str:
    """Return the sign Go writes before a number for the spec's + and space flags."""
    if negative:
        return "-"
    if spec.plus:
        return "+"
    return " " if spec.space else ""


def _format_float_arg(value: float, spec: _Spec) -> str:
    """Format a float64 for %v %e %E %f %F %g %G, including Go's +Inf/-Inf/NaN spellings."""
    if math.isnan(value):
        return _pad(("+" if spec.plus else " " if spec.space else "") + "NaN", spec, zeros="never")
    if math.isinf(value):
        # Go keeps the + of an infinity unless the space flag (alone) replaces it.
        sign = "-" if value < 0 else " " if spec.space and not spec.plus else "+"
        return _pad(sign + "Inf", spec, zeros="never")
    body = _format_unsigned_float(value, spec)
    return _pad(_sign_prefix(math.copysign(1.0, value) < 0, spec) + body, spec)


def _format_int_arg(value: int, spec: _Spec) -> str:
    """Format an int for %v %d %b %o %x %X %c."""
    if spec.verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec, zeros="never")
    base_format = {"v": "d", "d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[spec.verb]
    digits = format(abs(value), base_format)
    if spec.precision is not None:
        digits = digits.zfill(spec.precision)
    if spec.sharp:
        digits = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(spec.verb, "") + digits
    # Go ignores the 0 flag when a precision is given.
    return _pad(_sign_prefix(value < 0, spec) + digits, spec, "after-sign" if spec.precision is None else "never")


def _format_string_arg(value: str, spec: _Spec) -> str:
    """Format a string for %v %s %q %x %X."""
    if spec.verb in "vs":
        text = value if spec.precision is None else value[: spec.precision]
    elif spec.verb == "q":
        text = go_quote(value if spec.precision is None else value[: spec.precision])
    else:
        raw = value.encode("utf-8", "surrogateescape")
        text = raw.hex() if spec.verb == "x" else raw.hex().upper()
    return _pad(text, spec, "plain")


def _format_container(value: Mapping[str, str] | _AlertData, spec: _Spec) -> str:
    """Format a map or the template data struct element by element, as Go's printValue does."""
    if isinstance(value, _AlertData):
        return "{" + " ".join(_format_arg(item, spec) for item in value.go_fields()) + "}"
    pairs = (f"{_format_arg(key, spec)}:{_format_arg(value[key], spec)}" for key in sorted(value))
    return "map[" + " ".join(pairs) + "]"


_VERBS_BY_KIND: Mapping[str, tuple[str, str]] = {
    # kind: (verbs tripwired formats, verbs Go accepts that tripwired refuses rather than get wrong)
    "bool": ("tv", ""),
    "int": ("vdboxXc", "OqU"),
    "float64": ("veEfFgG", "bxX"),
    "string": ("vsqxX", ""),
}


def _bad_verb(value: _Value, verb: str) -> str:
    """Render Go's %!verb(type=value) for a verb that does not suit the value."""
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_go_type(value)}={_format_arg(value, _PLAIN)})"


def _format_arg(value: _Value, spec: _Spec) -> str:
    """Format one printf operand with one verb, as Go's pp.printArg does."""
    if spec.sharp and spec.verb == "v":
        raise TemplateError("printf: %#v (Go syntax) is not supported by tripwired")
    if isinstance(value, (Mapping, _AlertData)):
        return _format_container(value, spec)
    if value is None or isinstance(value, _NoValue):
        return _pad("<nil>", spec, zeros="never") if spec.verb == "v" else _bad_verb(None, spec.verb)
    kind = _go_type(value)
    formatted, refused = _VERBS_BY_KIND[kind]
    if spec.verb in refused:
        raise TemplateError(f"printf: verb %{spec.verb} for {kind} is not supported by tripwired")
    if spec.verb not in formatted:
        return _bad_verb(value, spec.verb)
    if isinstance(value, bool):
        return _pad("true" if value else "false", spec, zeros="never")
    if isinstance(value, int):
        return _format_int_arg(value, spec)
    if isinstance(value, float):
        return _format_float_arg(value, spec)
    assert isinstance(value, str)
    return _format_string_arg(value, spec)


def _go_print_value(value: _Value) -> str:
    """Print a value the way text/template prints the result of an action."""
    if isinstance(value, _NoValue):
        return "<no value>"
    return _format_arg(value, _PLAIN)


def _go_sprint(args: Sequence[_Value]) -> str:
    """Go's fmt.Sprint: spaces between operands when neither side is a string."""
    parts: list[str] = []
    previous_was_string = False
    for position, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if position > 0 and not is_string and not previous_was_string:
            parts.append(" ")
        parts.append(_format_arg(arg, _PLAIN))
        previous_was_string = is_string
    return "".join(parts)


def _go_sprintln(args: Sequence[_Value]) -> str:
    """Go's fmt.Sprintln: spaces between all operands and a final newline."""
    return " ".join(_format_arg(arg, _PLAIN) for arg in args) + "\n"


_FLAG_FIELDS = {"+": "plus", "-": "minus", " ": "space", "0": "zero", "#": "sharp"}


def _parse_number(text: str, start: int) -> tuple[int | None, int]:
    """Read decimal digits at start; None when there are none or Go would call them too large."""
    end = start
    while end < len(text) and text[end].isdigit() and text[end].isascii():
        end += 1
    if end == start:
        return None, end
    number = int(text[start:end])
    return (None, len(text)) if number > _MAX_FMT_NUMBER else (number, end)


def _parse_directive(fmt: str, start: int) -> tuple[_Spec, int]:
    """Parse the flags, width and precision of a directive whose '%' is just before start."""
    flags: dict[str, bool] = {}
    pos = start
    while pos < len(fmt) and fmt[pos] in _FLAG_FIELDS:
        flags[_FLAG_FIELDS[fmt[pos]]] = True
        pos += 1
    if flags.get("minus"):
        flags["zero"] = False  # Go pads on the left with zeros only.
    if fmt.startswith(("*", "["), pos):
        raise TemplateError("printf: '*' widths and [n] argument indexes are not supported by tripwired")
    width, pos = _parse_number(fmt, pos)
    precision: int | None = None
    if pos < len(fmt) and fmt[pos] == ".":
        if fmt.startswith(("*", "["), pos + 1):
            raise TemplateError("printf: '*' precisions are not supported by tripwired")
        precision, pos = _parse_number(fmt, pos + 1)
        precision = 0 if precision is None and pos < len(fmt) else precision
    verb = fmt[pos] if pos < len(fmt) else ""
    spec = _Spec(
        verb=verb,
        plus=flags.get("plus", False),
        minus=flags.get("minus", False),
        space=flags.get("space", False),
        zero=flags.get("zero", False),
        sharp=flags.get("sharp", False),
        width=width,
        precision=precision,
    )
    return spec, pos + 1


def _go_sprintf(fmt: str, args: Sequence[_Value]) -> str:
    """Go's fmt.Sprintf for the verbs alert templates use, with Go's error spellings."""
    out: list[str] = []
    size = 0
    arg_index = 0
    pos = 0
    while pos < len(fmt):
        percent = fmt.find("%", pos)
        if percent < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:percent])
        spec, pos = _parse_directive(fmt, percent + 1)
        if not spec.verb:
            out.append("%!(NOVERB)")
        elif spec.verb == "%":
            out.append("%")
        elif arg_index >= len(args):
            out.append(f"%!{spec.verb}(MISSING)")
        else:
            out.append(_format_arg(args[arg_index], spec))
            arg_index += 1
        size += len(out[-1])
        if size > _MAX_OUTPUT_CHARS:
            raise TemplateError(f"printf output exceeds {_MAX_OUTPUT_CHARS} characters")
    if arg_index < len(args):
        extra = ", ".join(
            "<nil>" if arg is None else f"{_go_type(arg)}={_format_arg(arg, _PLAIN)}" for arg in args[arg_index:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Prometheus' template functions (template/template.go in 2.42).

# Go accepts underscores between digits (and after a base prefix), as in Go source.
_DIGITS = r"\d+(?:_\d+)*"
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


def _go_parse_float(text: str) -> float:
    """Go's strconv.ParseFloat(text, 64), including its error messages."""
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    if _FLOAT_SYNTAX.fullmatch(text):
        result = float(text.replace("_", ""))
    elif _HEX_FLOAT_SYNTAX.fullmatch(text):
        result = float.fromhex(text.replace("_", ""))
    else:
        raise TemplateError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if math.isinf(result):
        raise TemplateError(f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range")
    return result


def _convert_to_float(value: _Value) -> float:
    """Prometheus' convertToFloat: the humanize functions accept numbers and numeric strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TemplateError(f"can't convert {_go_type(value)} to float")
    return _go_parse_float(value) if isinstance(value, str) else float(value)


def _g4(value: float) -> str:
    """fmt.Sprintf("%.4g", value), the precision every humanize function uses."""
    return _format_arg(value, _Spec(verb="g", precision=4))


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


def _humanize(arg: _Value) -> str:
    """Prometheus' humanize: SI prefixes, four significant digits."""
    value = _convert_to_float(arg)
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    if abs(value) >= 1:
        scaled, prefix = _scale_down(value, 1000, "kMGTPEZY")
    else:
        scaled, prefix = _scale_up(value)
    return _g4(scaled) + prefix


def _humanize_1024(arg: _Value) -> str:
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


def _humanize_duration(arg: _Value) -> str:
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


def _humanize_percentage(arg: _Value) -> str:
    """Prometheus' humanizePercentage: a ratio as a percentage with four significant digits."""
    return _g4(_convert_to_float(arg) * 100) + "%"


def _go_time_string(milliseconds: int) -> str:
    """Go's time.Time.String() for a UTC instant: "2006-01-02 15:04:05.999999999 +0000 UTC"."""
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)
    fraction = f".{instant.microsecond // 1000:03d}".rstrip("0").rstrip(".")
    return f"{instant:%Y-%m-%d %H:%M:%S}{fraction} +0000 UTC"


def _humanize_timestamp(arg: _Value) -> str:
    """Prometheus' humanizeTimestamp: Unix seconds as a UTC time, at millisecond precision."""
    value = _convert_to_float(arg)
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    nanoseconds = value * 1e9
    # Go compares against float64(MaxInt64), which is 2**63, so 2**63 itself gets through and wraps.
    if not -(2.0**63) <= nanoseconds <= 2.0**63:
        raise TemplateError(
            f"{_go_print_value(value)} cannot be represented as a nanoseconds timestamp since it overflows int64"
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


# ---------------------------------------------------------------------------------------
# Regular expressions: Go's RE2 syntax mapped onto Python's re for the common subset.

_POSIX_CLASSES: Mapping[str, str] = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_UNSUPPORTED_ESCAPES = frozenset("123456789pPQCZkgGX")
_UNSUPPORTED_GROUPS = ("(?=", "(?!", "(?<", "(?>", "(?#")


def _translate_regex(pattern: str) -> str:
    """Translate RE2 syntax to Python's; refuse what the two read differently.

    Go's $ (without the m flag) and \\z match only at the very end, like Python's \\Z;
    Python's $ also matches before a final newline. POSIX classes are spelled out.
    """
    multiline = re.search(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    in_class = False
    pos = 0
    while pos < len(pattern):
        piece, pos, in_class = _translate_piece(pattern, pos, in_class, multiline)
        out.append(piece)
    return "".join(out)


def _translate_piece(pattern: str, pos: int, in_class: bool, multiline: bool) -> tuple[str, int, bool]:
    """Translate the regexp element at pos; return it, the next position and the bracket state."""
    char = pattern[pos]
    if char == "\\" and pos + 1 < len(pattern):
        escaped = pattern[pos + 1]
        if escaped in _UNSUPPORTED_ESCAPES:
            raise TemplateError(f"regexp: {go_quote(pattern)}: escape \\{escaped} is not supported by tripwired")
        return _translate_escape(escaped, in_class), pos + 2, in_class
    if in_class:
        if pattern.startswith("[:", pos):
            return _posix_class(pattern, pos)
        return char, pos + 1, char != "]"
    if pattern.startswith(_UNSUPPORTED_GROUPS, pos):
        raise TemplateError(f"regexp: {go_quote(pattern)}: lookaround and similar groups are not supported by Go")
    if char == "[":
        # A ] right after [ or [^ is a literal, not the end of the class.
        opening = "[^" if pattern.startswith("[^", pos) else "["
        after = pos + len(opening)
        if pattern.startswith("]", after):
            return opening + "\\]", after + 1, True
        return opening, after, True
    if char == "$" and not multiline:
        return "\\Z", pos + 1, False
    return char, pos + 1, False


def _translate_escape(escaped: str, in_class: bool) -> str:
    """Translate one backslash escape; Go's \\s, unlike Python's, leaves out the vertical tab."""
    if escaped == "s":
        return "\\t\\n\\f\\r " if in_class else "[\\t\\n\\f\\r ]"
    if escaped == "S" and not in_class:
        return "[^\\t\\n\\f\\r ]"
    if escaped == "z" and not in_class:
        return "\\Z"
    return "\\" + escaped


def _posix_class(pattern: str, pos: int) -> tuple[str, int, bool]:
    """Expand one [:name:] POSIX class inside a bracket expression."""
    close = pattern.find(":]", pos + 2)
    name = pattern[pos + 2 : close] if close >= 0 else ""
    if name not in _POSIX_CLASSES:
        raise TemplateError(f"regexp: {go_quote(pattern)}: POSIX class [:{name}:] is not supported by tripwired")
    return _POSIX_CLASSES[name], close + 2, True


def _compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Go regular expression; \\d, \\w, \\s and \\b are ASCII-only in Go, as with re.ASCII."""
    try:
        return re.compile(_translate_regex(pattern), re.ASCII)
    except re.error as exc:
        raise TemplateError(f"error parsing regexp: {exc}: {go_quote(pattern)}") from exc


_GO_TEMPLATE_REF = re.compile(r"\$(?:\$|\{(\w*)\}|(\w+))")


def _expand_replacement(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; unknown groups expand to nothing."""

    def substitute(ref: re.Match[str]) -> str:
        """Replace one $-reference with the text of the group it names."""
        name = ref.group(1) if ref.group(1) is not None else ref.group(2)
        if name is None:
            return "$"
        if name.isdigit() and name.isascii():
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups) else ""
        return (match.group(name) or "") if name in match.re.groupindex else ""

    return _GO_TEMPLATE_REF.sub(substitute, template)


def _re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Go's Regexp.ReplaceAllString, whose handling of empty matches differs from re.sub."""
    regex = _compile_regex(pattern)
    out: list[str] = []
    last_end, search_at = 0, 0
    while search_at <= len(text):
        match = regex.search(text, search_at)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        # Go skips an empty match right after the previous match.
        if end > last_end or start == 0:
            out.append(_expand_replacement(replacement, match))
        last_end = end
        search_at = max(search_at + 1, end)
    out.append(text[last_end:])
    return "".join(out)


def _match(pattern: str, text: str) -> bool:
    """Go's regexp.MatchString: does the pattern match anywhere in text."""
    return _compile_regex(pattern).search(text) is not None


# ---------------------------------------------------------------------------------------
# Go's builtins: comparison, logic, len, index.


def _basic_kind(value: _Value) -> str | None:
    """The comparable kind of a value (text/template's basicKind), or None."""
    kind = _go_type(value)
    return kind if kind in ("bool", "int", "float64", "string") else None


def _eq(first: _Value, *others: _Value) -> bool:
    """Go's eq: first == any of the others, only between values of one basic kind."""
    if not others:
        raise TemplateError("missing argument for comparison")
    kind = _basic_kind(first)
    for other in others:
        other_kind = _basic_kind(other)
        if kind != other_kind:
            raise TemplateError("incompatible types for comparison")
        if kind is None:
            raise TemplateError("invalid type for comparison")
        if first == other:
            return True
    return False


def _lt(first: _Value, second: _Value) -> bool:
    """Go's lt: ordered comparison of two ints, floats or strings."""
    kind, other_kind = _basic_kind(first), _basic_kind(second)
    if kind is None or other_kind is None:
        raise TemplateError("invalid type for comparison")
    if kind != other_kind:
        raise TemplateError("incompatible types for comparison")
    if isinstance(first, str) and isinstance(second, str):
        return first < second
    if isinstance(first, bool) or isinstance(second, bool):
        raise TemplateError("invalid type for comparison")
    assert isinstance(first, (int, float)) and isinstance(second, (int, float))
    return first < second


def _ne(first: _Value, second: _Value) -> bool:
    """Go's ne."""
    return not _eq(first, second)


def _le(first: _Value, second: _Value) -> bool:
    """Go's le, defined as lt or eq (so NaN quirks match Go's)."""
    return _lt(first, second) or _eq(first, second)


def _gt(first: _Value, second: _Value) -> bool:
    """Go's gt, defined as not le."""
    return not _le(first, second)


def _ge(first: _Value, second: _Value) -> bool:
    """Go's ge, defined as not lt."""
    return not _lt(first, second)


def _not(value: _Value) -> bool:
    """Go's not."""
    return not _is_true(value)


def _len(value: _Value) -> int:
    """Go's len: bytes of a string, entries of a map."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, Mapping):
        return len(value)
    if value is None or isinstance(value, _NoValue):
        raise TemplateError("len of nil pointer")
    raise TemplateError(f"len of type {_go_type(value)}")


def _index(item: _Value, *keys: _Value) -> _Value:
    """Go's index: map lookup (missing keys give ""), or a byte of a string."""
    for key in keys:
        item = _index_one(item, key)
    return item


def _index_one(item: _Value, key: _Value) -> _Value:
    """One step of Go's index."""
    if isinstance(item, Mapping):
        if not isinstance(key, str):
            raise TemplateError(f"value has type {_go_type(key)}; should be string")
        return item.get(key, "")
    if isinstance(item, str):
        if isinstance(key, bool) or not isinstance(key, int):
            raise TemplateError(f"cannot index slice/array with type {_go_type(key)}")
        raw = item.encode("utf-8", "surrogateescape")
        if not 0 <= key < len(raw):
            raise TemplateError(f"index out of range: {key}")
        return raw[key]
    if item is None or isinstance(item, _NoValue):
        raise TemplateError("index of untyped nil")
    raise TemplateError(f"can't index item of type {_go_type(item)}")


# ---------------------------------------------------------------------------------------
# The function table.


@dataclass(frozen=True)
class _Function:
    """A template function: its Go parameter types and its implementation.

    params lists "string" or "any" per fixed parameter; variadic says whether further
    "any" arguments are accepted. A lazy function (and, or) receives thunks.
    """

    params: tuple[str, ...]
    variadic: bool
    call: Callable[..., _Value]
    lazy: bool = False


def _and(*thunks: Callable[[], _Value]) -> _Value:
    """Go's and: the first false argument, or the last; later arguments are not evaluated."""
    value: _Value = None
    for thunk in thunks:
        value = thunk()
        if not _is_true(value):
            return value
    return value


def _or(*thunks: Callable[[], _Value]) -> _Value:
    """Go's or: the first true argument, or the last; later arguments are not evaluated."""
    value: _Value = None
    for thunk in thunks:
        value = thunk()
        if _is_true(value):
            return value
    return value


def _printf(fmt: str, *args: _Value) -> str:
    """Go's printf (fmt.Sprintf)."""
    return _go_sprintf(fmt, args)


_FUNCTIONS: Mapping[str, _Function] = {
    "humanize": _Function(("any",), False, _humanize),
    "humanize1024": _Function(("any",), False, _humanize_1024),
    "humanizeDuration": _Function(("any",), False, _humanize_duration),
    "humanizePercentage": _Function(("any",), False, _humanize_percentage),
    "humanizeTimestamp": _Function(("any",), False, _humanize_timestamp),
    "printf": _Function(("string",), True, _printf),
    "print": _Function((), True, lambda *args: _go_sprint(args)),
    "println": _Function((), True, lambda *args: _go_sprintln(args)),
    "title": _Function(("string",), False, _title),
    "toUpper": _Function(("string",), False, _to_upper),
    "toLower": _Function(("string",), False, _to_lower),
    "reReplaceAll": _Function(("string", "string", "string"), False, _re_replace_all),
    "match": _Function(("string", "string"), False, _match),
    "stripPort": _Function(("string",), False, _strip_port),
    "stripDomain": _Function(("string",), False, _strip_domain),
    "eq": _Function(("any",), True, _eq),
    "ne": _Function(("any", "any"), False, _ne),
    "lt": _Function(("any", "any"), False, _lt),
    "le": _Function(("any", "any"), False, _le),
    "gt": _Function(("any", "any"), False, _gt),
    "ge": _Function(("any", "any"), False, _ge),
    "and": _Function(("any",), True, _and, lazy=True),
    "or": _Function(("any",), True, _or, lazy=True),
    "not": _Function(("any",), False, _not),
    "len": _Function(("any",), False, _len),
    "index": _Function(("any",), True, _index),
}


# ---------------------------------------------------------------------------------------
# Lexer.


@dataclass(frozen=True)
class _Token:
    """One lexical item: its kind, its text (decoded for strings) and its offset."""

    kind: str
    text: str
    pos: int


_SPACE_CHARS = " \t\r\n"
_SINGLE_CHAR_TOKENS = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}
_WORD = re.compile(r"\w*")
_NUMBER_CHARS = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]*)?"
    r"|0[oO][0-7_]*(?:\.[0-7_]*)?|0[bB][01_]*(?:\.[01_]*)?"
    r"|[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]*)?)i?"
)


def _is_alnum(char: str) -> bool:
    """Go's isAlphaNumeric: underscore, letters and digits."""
    return char == "_" or char.isalnum()


class _Lexer:
    """Splits template text into tokens, applying {{- and -}} trimming and dropping comments."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[_Token] = []
        self.trim_next_text = False

    def run(self) -> list[_Token]:
        """Tokenize the whole text."""
        while self.pos < len(self.text):
            self._lex_text()
            if self.pos < len(self.text):
                self._lex_action()
        self.tokens.append(_Token("eof", "", len(self.text)))
        return self.tokens

    def _error(self, message: str, pos: int | None = None) -> TemplateError:
        """An error located at the current position (or the given one)."""
        return _positioned_error(self.text, self.pos if pos is None else pos, message)

    def _lex_text(self) -> None:
        """Emit the text up to the next {{, trimmed as neighbouring trim markers ask."""
        start = self.text.find("{{", self.pos)
        end = len(self.text) if start < 0 else start
        text = self.text[self.pos : end]
        if self.trim_next_text:
            text = text.lstrip(_SPACE_CHARS)
        if start >= 0 and self._has_left_trim(start):
            text = text.rstrip(_SPACE_CHARS)
        if text:
            self.tokens.append(_Token("text", text, self.pos))
        self.pos = end

    def _has_left_trim(self, delim: int) -> bool:
        """Is the {{ at delim followed by the trim marker "- " (so "{{-3}}" is still minus three)?"""
        marker = self.text[delim + 2 : delim + 4]
        return len(marker) == 2 and marker[0] == "-" and marker[1] in _SPACE_CHARS

    def _lex_action(self) -> None:
        """Lex one {{ ... }} action or comment."""
        start = self.pos
        self.pos += 4 if self._has_left_trim(start) else 2
        if self.text.startswith("/*", self.pos):
            self._lex_comment()
            return
        self.tokens.append(_Token("left", "{{", start))
        while not self._at_right_delim():
            self._lex_inside_action()

    def _at_right_delim(self) -> bool:
        """Consume a right delimiter (with its trim marker) if one starts here."""
        rest = self.text[self.pos :]
        trimmed = len(rest) >= 4 and rest[0] in _SPACE_CHARS and rest[1:4] == "-}}"
        if not trimmed and not rest.startswith("}}"):
            return False
        self.tokens.append(_Token("right", "}}", self.pos))
        self.pos += 4 if trimmed else 2
        self.trim_next_text = trimmed
        return True

    def _lex_comment(self) -> None:
        """Skip a {{/* */}} comment, which must end right at the closing delimiter."""
        close = self.text.find("*/", self.pos + 2)
        if close < 0:
            raise self._error("unclosed comment")
        self.pos = close + 2
        if not self._at_right_delim():
            raise self._error("comment ends before closing delimiter")
        self.tokens.pop()  # the comment's right delimiter carries no meaning

    def _lex_inside_action(self) -> None:
        """Lex one item inside an action."""
        if self.pos >= len(self.text):
            raise self._error("unclosed action")
        char = self.text[self.pos]
        if char in _SPACE_CHARS:
            self._lex_space()
        elif char in _SINGLE_CHAR_TOKENS:
            self._emit(_SINGLE_CHAR_TOKENS[char], 1)
        elif char == ":":
            if not self.text.startswith(":=", self.pos):
                raise self._error("expected :=")
            self._emit("declare", 2)
        elif char in "\"`'":
            self._lex_quote(char)
        elif char == "$":
            self._lex_word("variable", 1)
        elif char == "." and self.text[self.pos + 1 : self.pos + 2].isdigit():
            self._lex_number()
        elif char == ".":
            self._lex_word("field", 1)
        elif char in "+-" or char.isdigit():
            self._lex_number()
        elif _is_alnum(char):
            self._lex_identifier()
        else:
            raise self._error(f"unrecognized character in action: {go_quote(char)}")

    def _emit(self, kind: str, length: int) -> None:
        """Emit the next length characters as one token."""
        self.tokens.append(_Token(kind, self.text[self.pos : self.pos + length], self.pos))
        self.pos += length

    def _lex_space(self) -> None:
        """Emit a run of spaces, which separate arguments."""
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE_CHARS:
            # Leave the space of " -}}" to the right delimiter.
            if self.text.startswith("-}}", self.pos + 1):
                break
            self.pos += 1
        # run() checks for " -}}" before lexing a space, so at least one space was read.
        self.tokens.append(_Token("space", self.text[start : self.pos], start))

    def _check_terminator(self) -> None:
        """Go requires a word to be followed by a space, delimiter or punctuation."""
        rest = self.text[self.pos :]
        if rest and rest[0] not in _SPACE_CHARS + ".,|:)(" and not rest.startswith("}}"):
            raise self._error(f"bad character {go_quote(rest[0])}")

    def _lex_word(self, kind: str, prefix: int) -> None:
        """Emit a variable ($x) or field (.X), or a lone dot."""
        word = _WORD.match(self.text, self.pos + prefix)
        assert word is not None
        self._emit(kind if word.end() > self.pos + prefix or kind != "field" else "dot", word.end() - self.pos)
        self._check_terminator()

    def _lex_identifier(self) -> None:
        """Emit a keyword, bool, nil or function name."""
        word = _WORD.match(self.text, self.pos)
        assert word is not None
        text = word.group()
        if text in _KEYWORDS:
            kind = "keyword"
        elif text in ("true", "false"):
            kind = "bool"
        elif text == "nil":
            kind = "nil"
        else:
            kind = "identifier"
        self._emit(kind, len(text))
        self._check_terminator()

    def _lex_number(self) -> None:
        """Emit a numeric constant in Go syntax."""
        number = _NUMBER_CHARS.match(self.text, self.pos)
        assert number is not None
        end = number.end()
        if end == self.pos or (end < len(self.text) and _is_alnum(self.text[end])):
            raise self._error(f"bad number syntax: {go_quote(self.text[self.pos : end + 1])}")
        self._emit("number", end - self.pos)

    def _lex_quote(self, quote: str) -> None:
        """Emit a quoted, raw or character literal, decoded."""
        end = self.pos + 1
        while True:
            if end >= len(self.text) or (quote != "`" and self.text[end] == "\n"):
                raise self._error(f"unterminated {_QUOTE_NAMES[quote]}")
            if self.text[end] == "\\" and quote != "`":
                end += 2
                continue
            if self.text[end] == quote:
                break
            end += 1
        kind = {"`": "string", '"': "string", "'": "char"}[quote]
        self.tokens.append(_Token(kind, _unquote(self.text[self.pos : end + 1]), self.pos))
        self.pos = end + 1
        self._check_terminator()


_QUOTE_NAMES = {"`": "raw quoted string", '"': "quoted string", "'": "character constant"}
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\\"'])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")


def _unquote(literal: str) -> str:
    """Go's strconv.Unquote for "...", `...` and '.' literals."""
    quote, body = literal[0], literal[1:-1]
    if quote == "`":
        return body.replace("\r", "")  # Go drops carriage returns from raw strings
    out = bytearray()
    pos = 0
    while pos < len(body):
        if body[pos] != "\\":
            out += body[pos].encode("utf-8", "surrogatepass")
            pos += 1
            continue
        escape = _ESCAPE.match(body, pos)
        if escape is None or (escape.group(1) is not None and escape.group(1) in "\"'" and escape.group(1) != quote):
            raise TemplateError(f"invalid syntax in {literal}")
        out += _escape_bytes(escape)
        pos = escape.end()
    try:
        decoded = out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"string {literal} is not valid UTF-8, which tripwired does not support") from exc
    if quote == "'" and len(decoded) != 1:
        raise TemplateError(f"malformed character constant: {literal}")
    return decoded


def _escape_bytes(escape: re.Match[str]) -> bytes:
    """The bytes one Go escape sequence stands for."""
    simple, hex_byte, octal, short, long = escape.groups()
    if simple is not None:
        return _SIMPLE_ESCAPES.get(simple, simple).encode()
    if hex_byte is not None or octal is not None:
        code = int(hex_byte, 16) if hex_byte is not None else int(octal, 8)
        if code > 255:
            raise TemplateError(f"invalid syntax: octal escape {escape.group()} out of range")
        return bytes([code])
    code = int(short if short is not None else long, 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise TemplateError(f"invalid syntax: escape {escape.group()} is not a valid rune")
    return chr(code).encode()


def _positioned_error(text: str, pos: int, message: str) -> TemplateError:
    """Build an error naming the line and column of pos in the user's template."""
    user_pos = max(pos - len(_PROMETHEUS_DEFS), 0) if text.startswith(_PROMETHEUS_DEFS) else pos
    user_text = text[len(_PROMETHEUS_DEFS) :] if text.startswith(_PROMETHEUS_DEFS) else text
    line = user_text.count("\n", 0, user_pos) + 1
    column = user_pos - (user_text.rfind("\n", 0, user_pos) + 1) + 1
    return TemplateError(f"{line}:{column}: {message}")


# ---------------------------------------------------------------------------------------
# Tree.


@dataclass(frozen=True)
class _Number:
    """A numeric constant, with the int and float readings Go's parse.NumberNode keeps."""

    text: str
    as_int: int | None
    as_float: float | None

    def ideal(self) -> int | float:
        """The value Go gives a constant passed where any type is accepted (exec's idealConstant)."""
        is_hex_int = self.text.lstrip("+-").lower().startswith("0x") and "p" not in self.text.lower()
        if self.as_float is not None and not is_hex_int and re.search("[.eEpP]", self.text):
            return self.as_float
        if self.as_int is not None:
            return self.as_int
        raise TemplateError(f"{self.text} overflows int")


@dataclass(frozen=True)
class _Literal:
    """A string, bool, character or number constant."""

    value: str | bool | int | _Number
    source: str


@dataclass(frozen=True)
class _Nil:
    """The nil constant."""

    source: str = "nil"


@dataclass(frozen=True)
class _Dot:
    """The cursor, "."."""

    source: str = "."


@dataclass(frozen=True)
class _Variable:
    """A variable reference, with any field chain after it ($labels.instance)."""

    name: str
    fields: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class _Field:
    """A field chain on the cursor (.Labels.instance)."""

    fields: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class _FunctionRef:
    """A function name in a command."""

    name: str
    source: str


@dataclass(frozen=True)
class _Chain:
    """A parenthesized pipeline, optionally followed by fields ((index $labels "a").x)."""

    pipe: _Pipeline
    fields: tuple[str, ...]
    source: str


_Operand = _Literal | _Nil | _Dot | _Variable | _Field | _FunctionRef | _Chain


@dataclass(frozen=True)
class _Command:
    """One stage of a pipeline: an operand, and arguments if it is a function."""

    args: tuple[_Operand, ...]
    source: str


@dataclass(frozen=True)
class _Pipeline:
    """Commands joined by |, with optional variable declarations or assignments."""

    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[_Command, ...]


@dataclass(frozen=True)
class _Text:
    """Literal text."""

    text: str


@dataclass(frozen=True)
class _Action:
    """{{ pipeline }}: evaluated, and printed unless it declares a variable."""

    pipe: _Pipeline


@dataclass(frozen=True)
class _Control:
    """{{if}}, {{with}} or {{range}} with its body and else branch."""

    kind: str
    pipe: _Pipeline
    body: tuple[_Node, ...]
    orelse: tuple[_Node, ...]


@dataclass(frozen=True)
class _LoopControl:
    """{{break}} or {{continue}} inside a range body."""

    kind: str


_Node = _Text | _Action | _Control | _LoopControl


# ---------------------------------------------------------------------------------------
# Parser.


@dataclass
class _Parser:
    """Recursive-descent parser over the token list, mirroring text/template/parse."""

    text: str
    tokens: list[_Token]
    pos: int = 0
    variables: list[str] = field(default_factory=lambda: ["$"])
    depth: int = 0
    range_depth: int = 0

    def parse(self) -> tuple[_Node, ...]:
        """Parse the whole template."""
        nodes, terminator = self._list()
        if terminator is not None:
            raise self._error(f"unexpected {{{{{terminator}}}}}", self.tokens[self.pos - 1])
        return nodes

    def _error(self, message: str, token: _Token | None = None) -> TemplateError:
        """An error located at the current position (or the given one)."""
        return _positioned_error(self.text, (token or self._peek()).pos, message)

    def _peek(self) -> _Token:
        """The next token, not consumed."""
        return self.tokens[self.pos]

    def _next(self) -> _Token:
        """Consume and return the next token."""
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _skip_space(self) -> None:
        """Consume space tokens."""
        while self._peek().kind == "space":
            self.pos += 1

    def _peek_non_space(self) -> _Token:
        """The next token after any spaces (the spaces are consumed)."""
        self._skip_space()
        return self._peek()

    def _list(self) -> tuple[tuple[_Node, ...], str | None]:
        """Parse nodes up to EOF or an {{end}}/{{else}}; return them and what stopped them."""
        nodes: list[_Node] = []
        while self._peek().kind != "eof":
            token = self._next()
            if token.kind == "text":
                nodes.append(_Text(token.text))
                continue
            assert token.kind == "left"  # the lexer emits only text and actions at this level
            node = self._action()
            if isinstance(node, str):
                return tuple(nodes), node
            nodes.append(node)
        return tuple(nodes), None

    def _action(self) -> _Node | str:
        """Parse what follows {{: a control structure, end, else, or a pipeline."""
        token = self._peek_non_space()
        if token.kind == "keyword":
            self._next()
            return self._keyword(token)
        return _Action(self._pipeline("command", "right"))

    def _keyword(self, token: _Token) -> _Node | str:
        """Parse what follows a keyword: a control structure, or the end/else that closes one."""
        if token.text in _REFUSED_KEYWORDS:
            raise self._error(f"{{{{{token.text}}}}} is not supported by tripwired in alert templates", token)
        if token.text in ("break", "continue"):
            return self._loop_control(token)
        if token.text == "end":
            self._expect("right", "end")
            return "end"
        if token.text == "else":
            if self._peek_non_space().kind == "keyword" and self._peek().text == "if":
                return "else if"
            self._expect("right", "else")
            return "else"
        return self._control(token.text)

    def _loop_control(self, token: _Token) -> _LoopControl:
        """{{break}} or {{continue}}, which Go allows only inside a range body."""
        if self.range_depth == 0:
            raise self._error(f"{{{{{token.text}}}}} outside {{{{range}}}}", token)
        self._expect("right", token.text)
        return _LoopControl(token.text)

    def _expect(self, kind: str, context: str) -> _Token:
        """Consume the next non-space token, which must be of kind."""
        token = self._peek_non_space()
        if token.kind != kind:
            raise self._error(f"unexpected {go_quote(token.text) if token.text else 'EOF'} in {context}", token)
        return self._next()

    def _control(self, kind: str) -> _Control:
        """Parse if/with/range up to its {{end}}, scoping variables declared inside."""
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise self._error(f"control structures nested deeper than {_MAX_NESTING}")
        saved_variables = len(self.variables)
        pipe = self._pipeline(kind, "right")
        # Only the body of a range, not its else branch, may break or continue.
        self.range_depth += kind == "range"
        body, terminator = self._list()
        self.range_depth -= kind == "range"
        orelse: tuple[_Node, ...] = ()
        if terminator == "else if" and kind == "if":
            self._next()  # the "if"; the nested if consumes the single {{end}}
            orelse = (self._control("if"),)
        elif terminator == "else":
            orelse, terminator = self._list()
            if terminator != "end":
                raise self._error(f"expected end; found {terminator or 'EOF'}")
        elif terminator != "end":
            raise self._error(f"unexpected {'EOF' if terminator is None else terminator} in {kind}")
        del self.variables[saved_variables:]
        self.depth -= 1
        return _Control(kind, pipe, body, orelse)

    def _pipeline(self, context: str, end: str) -> _Pipeline:
        """Parse [decl :=] command | command ... up to the end token."""
        decl, is_assign = self._declarations(context)
        cmds: list[_Command] = []
        while True:
            token = self._peek_non_space()
            if token.kind == end:
                self._next()
                break
            if token.kind in ("eof", "right", "rparen"):
                raise self._error(f"unexpected {go_quote(token.text) if token.text else 'EOF'} in {context}", token)
            cmds.append(self._command(context))
        self._check_pipeline(context, cmds)
        return _Pipeline(tuple(decl), is_assign, tuple(cmds))

    def _check_pipeline(self, context: str, cmds: list[_Command]) -> None:
        """Refuse empty pipelines and constants after the first stage, as Go's checkPipeline does."""
        if not cmds:
            raise self._error(f"missing value for {context}")
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], (_Literal, _Nil, _Dot)):
                raise self._error(f"non executable command in pipeline stage {stage}")

    def _declarations(self, context: str) -> tuple[list[str], bool]:
        """Read "$x :=", "$x =" or, in range, "$k, $v :=" if present."""
        start = self.pos
        names: list[str] = []
        while self._peek_non_space().kind == "variable":
            names.append(self._next().text)
            following = self._peek_non_space()
            if following.kind in ("declare", "assign"):
                self._next()
                self.variables.extend(names)
                return names, following.kind == "assign"
            if following.kind == "comma" and context == "range" and len(names) == 1:
                self._next()
                continue
            if following.kind == "comma":
                raise self._error(f"too many declarations in {context}", following)
            break
        self.pos = start
        return [], False

    def _command(self, context: str) -> _Command:
        """Parse space-separated operands up to |, a right delimiter or a right paren."""
        start = self._peek().pos
        args: list[_Operand] = []
        while True:
            token = self._peek_non_space()
            if token.kind in ("right", "rparen", "eof"):
                break
            if token.kind == "pipe":
                self._next()
                break
            args.append(self._operand(context))
            if self._peek().kind not in ("space", "right", "rparen", "pipe", "eof"):
                raise self._error(f"unexpected {go_quote(self._peek().text)} in operand")
        if not args:
            raise self._error("empty command")
        return _Command(tuple(args), self.text[start : self._peek().pos].strip())

    def _operand(self, context: str) -> _Operand:
        """Parse a term and any field chain written directly after it."""
        token = self._next()
        if token.kind == "lparen":
            return self._parenthesized(token)
        if token.kind == "identifier":
            return self._function_ref(token)
        if token.kind == "variable":
            return self._variable(token)
        if token.kind == "field":
            return _Field(self._fields([token.text[1:]]), self._source_from(token))
        if token.kind == "dot":
            return self._no_chain(_Dot(), token)
        if token.kind == "nil":
            return self._no_chain(_Nil(), token)
        if token.kind in ("string", "char", "bool", "number"):
            return self._no_chain(self._literal(token), token)
        raise self._error(f"unexpected {go_quote(token.text)} in {context}", token)

    def _source_from(self, token: _Token) -> str:
        """The template text from token up to the current position, for error messages."""
        return self.text[token.pos : self._peek().pos]

    def _fields(self, fields: list[str]) -> tuple[str, ...]:
        """Consume a run of .field tokens written directly after a term."""
        while self._peek().kind == "field":
            fields.append(self._next().text[1:])
        return tuple(fields)

    def _no_chain(self, operand: _Operand, token: _Token) -> _Operand:
        """Refuse a field access after a constant, as Go does."""
        if self._peek().kind == "field":
            raise self._error(f"unexpected . after term {go_quote(token.text)}")
        return operand

    def _parenthesized(self, token: _Token) -> _Chain:
        """Parse a (pipeline) and any fields after it."""
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise self._error(f"parentheses nested deeper than {_MAX_NESTING}")
        pipe = self._pipeline("parenthesized pipeline", "rparen")
        self.depth -= 1
        return _Chain(pipe, self._fields([]), self._source_from(token))

    def _function_ref(self, token: _Token) -> _FunctionRef:
        """Resolve a function name, refusing unknown and server-only functions."""
        name = token.text
        if name in _REFUSED_FUNCTIONS:
            reason = _REFUSED_FUNCTIONS[name]
            raise self._error(f"function {go_quote(name)} is not supported by tripwired: {reason}", token)
        if name not in _FUNCTIONS:
            raise self._error(f"function {go_quote(name)} not defined", token)
        if self._peek().kind == "field":
            raise self._error(f"field access on the result of {name} is not supported by tripwired")
        return _FunctionRef(name, name)

    def _variable(self, token: _Token) -> _Variable:
        """Resolve a variable reference, which must be in scope."""
        if token.text not in self.variables:
            raise self._error(f"undefined variable {go_quote(token.text)}", token)
        fields = self._fields([])
        return _Variable(token.text, fields, self._source_from(token))

    def _literal(self, token: _Token) -> _Literal:
        """Turn a constant token into a literal node."""
        if token.kind == "bool":
            return _Literal(token.text == "true", token.text)
        if token.kind == "char":
            return _Literal(_Number(token.text, ord(token.text), float(ord(token.text))), token.text)
        if token.kind == "number":
            return _Literal(self._number(token.text), token.text)
        return _Literal(token.text, self.text[token.pos : self._peek().pos])

    def _number(self, text: str) -> _Number:
        """Read a numeric constant as text/template's NewNumber does (int and float readings)."""
        if text.endswith("i"):
            raise self._error(f"complex constant {text} is not supported by tripwired")
        as_int = _parse_go_int(text)
        as_float = float(as_int) if as_int is not None else _parse_literal_float(text)
        if as_int is None and as_float is not None and not re.search("[.eEpP]", text):
            # Go reads an integer-looking literal that only parses as a float (08, 1e20 digits) as overflow.
            raise self._error(f"integer overflow: {go_quote(text)}")
        if as_int is None and as_float is not None and as_float.is_integer() and abs(as_float) < 2.0**63:
            as_int = int(as_float)
        if as_int is None and as_float is None:
            raise self._error(f"illegal number syntax: {go_quote(text)}")
        return _Number(text, as_int, as_float)


_GO_OCTAL = re.compile(r"[+-]?0[0-7_]+")


def _parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), or None."""
    try:
        value = int(text.replace("0", "0o", 1) if _GO_OCTAL.fullmatch(text) and "_" not in text else text, 0)
    except ValueError:
        return None
    return value if -(2**63) <= value < 2**63 else None


def _parse_literal_float(text: str) -> float | None:
    """strconv.ParseFloat for a numeric literal, or None."""
    try:
        return _go_parse_float(text)
    except TemplateError:
        return None


# ---------------------------------------------------------------------------------------
# Evaluator.


class _Output:
    """Collects expanded text and enforces the output bound."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        """Append text, failing once the total passes the bound."""
        self.size += len(text)
        if self.size > _MAX_OUTPUT_CHARS:
            raise TemplateError(f"expansion exceeds {_MAX_OUTPUT_CHARS} characters")
        self.parts.append(text)


class _Missing:
    """Marks that no earlier pipeline stage has produced a value to pass on."""


_MISSING = _Missing()


class _Executor:
    """Walks a parsed template with Go's text/template semantics."""

    def __init__(self, data: _AlertData) -> None:
        self.variables: list[tuple[str, _Value]] = [("$", data)]
        self.output = _Output()
        self.iterations = 0

    def walk(self, nodes: Sequence[_Node], dot: _Value) -> str | None:
        """Execute a list of nodes; return "break" or "continue" if one ends it early."""
        for node in nodes:
            signal: str | None = None
            if isinstance(node, _Text):
                self.output.write(node.text)
            elif isinstance(node, _Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    self.output.write(_go_print_value(value))
            elif isinstance(node, _LoopControl):
                signal = node.kind
            elif node.kind == "range":
                self.walk_range(node, dot)
            else:
                signal = self.walk_if_or_with(node, dot)
            if signal is not None:
                return signal
        return None

    def walk_if_or_with(self, node: _Control, dot: _Value) -> str | None:
        """{{if}} and {{with}}: with also moves the cursor to the value."""
        mark = len(self.variables)
        value = self.pipeline(node.pipe, dot)
        if _is_true(value):
            signal = self.walk(node.body, value if node.kind == "with" else dot)
        else:
            signal = self.walk(node.orelse, dot)
        del self.variables[mark:]
        return signal

    def walk_range(self, node: _Control, dot: _Value) -> None:
        """{{range}} over a map, in sorted key order as Go does."""
        mark = len(self.variables)
        value = self.pipeline(node.pipe, dot)
        del self.variables[mark:]
        if value is None or isinstance(value, _NoValue):
            self.walk(node.orelse, dot)
            return
        if not isinstance(value, Mapping):
            raise TemplateError(f"range can't iterate over {_go_print_value(value)}")
        if not value:
            self.walk(node.orelse, dot)
            return
        for key in sorted(value):
            if self.one_iteration(node, key, value[key]) == "break":
                break

    def one_iteration(self, node: _Control, key: str, element: str) -> str | None:
        """Run a range body once, binding $v or $k, $v; return "break" if the body breaks."""
        self.iterations += 1
        if self.iterations > _MAX_LOOP_ITERATIONS:
            raise TemplateError(f"range loops ran more than {_MAX_LOOP_ITERATIONS} iterations")
        mark = len(self.variables)
        values: tuple[_Value, ...] = (key, element) if len(node.pipe.decl) == 2 else (element,)
        for name, bound_value in zip(node.pipe.decl, values, strict=False):
            if node.pipe.is_assign:
                self.set_variable(name, bound_value)
            else:
                self.variables.append((name, bound_value))
        signal = self.walk(node.body, element)
        del self.variables[mark:]
        return signal

    def pipeline(self, pipe: _Pipeline, dot: _Value) -> _Value:
        """Evaluate a pipeline and bind any declared or assigned variable."""
        result: _Value | _Missing = _MISSING
        for cmd in pipe.cmds:
            result = self.command(cmd, dot, result)
        assert not isinstance(result, _Missing)  # the parser refuses empty pipelines
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_variable(name, result)
            else:
                self.variables.append((name, result))
        return result

    def set_variable(self, name: str, value: _Value) -> None:
        """{{ $x = ... }}: change the innermost variable of that name."""
        for index in range(len(self.variables) - 1, -1, -1):
            if self.variables[index][0] == name:
                self.variables[index] = (name, value)
                return
        raise TemplateError(f"undefined variable: {name}")

    def variable(self, name: str) -> _Value:
        """The value of the innermost variable of that name."""
        for bound_name, value in reversed(self.variables):
            if bound_name == name:
                return value
        raise TemplateError(f"undefined variable: {name}")

    def command(self, cmd: _Command, dot: _Value, final: _Value | _Missing) -> _Value:
        """Evaluate one pipeline stage; final is the previous stage's value, if any."""
        first = cmd.args[0]
        try:
            if isinstance(first, _FunctionRef):
                return self.call(first.name, cmd.args[1:], dot, final)
            if len(cmd.args) > 1 or not isinstance(final, _Missing):
                raise TemplateError(f"can't give argument to non-function {first.source}")
            return self.operand(first, dot)
        except TemplateError as exc:
            if str(exc).startswith("at <"):
                raise  # already located by an inner command
            raise TemplateError(f"at <{cmd.source}>: {exc}") from None

    def operand(self, node: _Operand, dot: _Value) -> _Value:
        """Evaluate an operand on its own (not as a typed function argument)."""
        if isinstance(node, _Literal):
            return node.value.ideal() if isinstance(node.value, _Number) else node.value
        if isinstance(node, _Nil):
            raise TemplateError("nil is not a command")
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Variable):
            return _field_chain(self.variable(node.name), node.fields)
        if isinstance(node, _Field):
            return _field_chain(dot, node.fields)
        if isinstance(node, _FunctionRef):
            return self.call(node.name, (), dot, _MISSING)
        return _field_chain(self.pipeline(node.pipe, dot), node.fields)

    def call(self, name: str, args: Sequence[_Operand], dot: _Value, final: _Value | _Missing) -> _Value:
        """Call a template function with Go's argument count and type checks."""
        function = _FUNCTIONS[name]
        count = len(args) + (not isinstance(final, _Missing))
        _check_arity(name, function, count)
        thunks = [self.argument_thunk(function, position, arg, dot) for position, arg in enumerate(args)]
        if not isinstance(final, _Missing):
            piped = final
            thunks.append(lambda: _check_final_type(function, count - 1, piped))
        if function.lazy:
            # and/or evaluate their arguments themselves, and cannot fail otherwise.
            return function.call(*thunks)
        values = [thunk() for thunk in thunks]
        try:
            return function.call(*values)
        except TemplateError as exc:
            raise TemplateError(f"error calling {name}: {exc}") from None

    def argument_thunk(self, function: _Function, position: int, arg: _Operand, dot: _Value) -> Callable[[], _Value]:
        """Defer evaluating an argument (and and or only evaluate what they need)."""
        expected = _param_type(function, position)
        return lambda: self.argument(expected, arg, dot)

    def argument(self, expected: str, arg: _Operand, dot: _Value) -> _Value:
        """Evaluate an argument for a parameter of Go type expected ("string" or "any")."""
        if isinstance(arg, _Nil):
            if expected == "string":
                raise TemplateError("cannot assign nil to string")
            return None
        if isinstance(arg, _Literal) and expected == "string":
            if not isinstance(arg.value, str):
                raise TemplateError(f"expected string; found {arg.source}")
            return arg.value
        value = self.operand(arg, dot)
        if expected == "string" and not isinstance(value, str):
            raise TemplateError(f"wrong type for value; expected string; got {_go_type(value)}")
        return value


def _param_type(function: _Function, position: int) -> str:
    """The Go type of the parameter at position ("any" for variadic extras)."""
    return function.params[position] if position < len(function.params) else "any"


def _check_arity(name: str, function: _Function, count: int) -> None:
    """Go's "wrong number of args" checks."""
    fixed = len(function.params)
    if function.variadic and count < fixed:
        raise TemplateError(f"wrong number of args for {name}: want at least {fixed} got {count}")
    if not function.variadic and count != fixed:
        raise TemplateError(f"wrong number of args for {name}: want {fixed} got {count}")


def _check_final_type(function: _Function, position: int, value: _Value) -> _Value:
    """Type-check a value piped into a function as its last argument."""
    if _param_type(function, position) == "string" and not isinstance(value, str):
        raise TemplateError(f"wrong type for value; expected string; got {_go_type(value)}")
    return value


def _field_chain(receiver: _Value, fields: Sequence[str]) -> _Value:
    """Follow .Field/.key steps: struct fields of the alert data, keys of maps."""
    for name in fields:
        receiver = _field(receiver, name)
    return receiver


def _field(receiver: _Value, name: str) -> _Value:
    """One field step; a missing map key gives "" because Prometheus sets missingkey=zero."""
    if isinstance(receiver, _AlertData):
        value = receiver.go_field(name)
        if value is None:
            raise TemplateError(f"can't evaluate field {name} in type {_ALERT_DATA_TYPE}")
        return value
    if isinstance(receiver, Mapping):
        return receiver.get(name, "")
    if receiver is None or isinstance(receiver, _NoValue):
        return _NO_VALUE
    raise TemplateError(f"can't evaluate field {name} in type {_go_type(receiver)}")


# ---------------------------------------------------------------------------------------
# Public API.


@dataclass(frozen=True)
class Template:
    """A parsed alert template, ready to be expanded for many alerts."""

    text: str
    _nodes: tuple[_Node, ...]

    def expand(
        self, *, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str], external_url: str
    ) -> str:
        """Expand for one alert; raises TemplateError as Prometheus would report an expansion error."""
        data = _AlertData(dict(labels), dict(external_labels), external_url, float(value))
        executor = _Executor(data)
        try:
            executor.walk(self._nodes, data)
        except RecursionError as exc:
            raise TemplateError("template is nested too deeply") from exc
        return "".join(executor.output.parts)


def parse_template(text: str) -> Template:
    """Parse an alert label or annotation template; raises TemplateError naming the problem."""
    full_text = _PROMETHEUS_DEFS + text
    tokens = _Lexer(full_text).run()
    return Template(text, _Parser(full_text, tokens).parse())


def check_template(text: str) -> str | None:
    """Return None if the template parses, else the error message (used when rules are loaded)."""
    try:
        parse_template(text)
    except TemplateError as exc:
        return str(exc)
    return None


def expand(
    text: str, *, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str], external_url: str
) -> str:
    """Expand an alert template as Prometheus 2.42 does; raises TemplateError."""
    return parse_template(text).expand(
        labels=labels, value=value, external_labels=external_labels, external_url=external_url
    )
