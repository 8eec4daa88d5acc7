"""Go's fmt as templates use it: %v printing, Sprint, Sprintln and Sprintf, with Go's error spellings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.gocompat.strconv import format_float
from agent.gotemplate.value import MAX_OUTPUT_CHARS, GoMap, GoSlice, GoStruct, NoValue, TemplateError, Value, go_type
from agent.model import go_quote

# Go's fmt refuses widths and precisions beyond this (fmt/print.go tooLarge).
_MAX_FMT_NUMBER = 1_000_000


def _format_shortest_g(value: float, upper: bool = False) -> str:
    """Format a positive finite float like Go's %v / strconv 'g' with precision -1."""
    return format_float(value, "G" if upper else "g")


def _format_unsigned_float(value: float, spec: Spec) -> str:
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
class Spec:
    """One parsed printf directive's flags, width and precision."""

    verb: str = "v"
    plus: bool = False
    minus: bool = False
    space: bool = False
    zero: bool = False
    sharp: bool = False
    width: int | None = None
    precision: int | None = None


PLAIN = Spec()


def _pad(text: str, spec: Spec, zeros: str = "after-sign") -> str:
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


def _sign_prefix(negative: bool, spec: Spec) -> str:
    """Return the sign Go writes before a number for the spec's + and space flags."""
    if negative:
        return "-"
    if spec.plus:
        return "+"
    return " " if spec.space else ""


def _format_float_arg(value: float, spec: Spec) -> str:
    """Format a float64 for %v %e %E %f %F %g %G, including Go's +Inf/-Inf/NaN spellings."""
    if math.isnan(value):
        return _pad(("+" if spec.plus else " " if spec.space else "") + "NaN", spec, zeros="never")
    if math.isinf(value):
        # Go keeps the + of an infinity unless the space flag (alone) replaces it.
        sign = "-" if value < 0 else " " if spec.space and not spec.plus else "+"
        return _pad(sign + "Inf", spec, zeros="never")
    body = _format_unsigned_float(value, spec)
    return _pad(_sign_prefix(math.copysign(1.0, value) < 0, spec) + body, spec)


def _format_int_arg(value: int, spec: Spec) -> str:
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


def _format_string_arg(value: str, spec: Spec) -> str:
    """Format a string for %v %s %q %x %X."""
    if spec.verb in "vs":
        text = value if spec.precision is None else value[: spec.precision]
    elif spec.verb == "q":
        text = go_quote(value if spec.precision is None else value[: spec.precision])
    else:
        raw = value.encode("utf-8", "surrogateescape")
        text = raw.hex() if spec.verb == "x" else raw.hex().upper()
    return _pad(text, spec, "plain")


def _format_container(value: Mapping[str, str] | GoStruct | GoSlice, spec: Spec) -> str:
    """Format a map, slice or data struct element by element, as Go's printValue does."""
    if isinstance(value, GoSlice):
        return "[" + " ".join(format_arg(item, spec) for item in value.items) + "]"
    if isinstance(value, GoStruct):
        return "{" + " ".join(format_arg(item, spec) for item in value.go_fields()) + "}"
    pairs = (f"{format_arg(key, spec)}:{format_arg(value[key], spec)}" for key in sorted(value))
    return "map[" + " ".join(pairs) + "]"


_VERBS_BY_KIND: Mapping[str, tuple[str, str]] = {
    # kind: (verbs tripwired formats, verbs Go accepts that tripwired refuses rather than get wrong)
    "bool": ("tv", ""),
    "int": ("vdboxXc", "OqU"),
    "float64": ("veEfFgG", "bxX"),
    "string": ("vsqxX", ""),
}


def _bad_verb(value: Value, verb: str) -> str:
    """Render Go's %!verb(type=value) for a verb that does not suit the value."""
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(value)}={format_arg(value, PLAIN)})"


def format_arg(value: Value, spec: Spec) -> str:
    """Format one printf operand with one verb, as Go's pp.printArg does."""
    if spec.sharp and spec.verb == "v":
        raise TemplateError("printf: %#v (Go syntax) is not supported by tripwired")
    text = value.go_string() if isinstance(value, (GoStruct, GoMap)) and spec.verb in "vs" else None
    if text is not None:  # a Go value with a String method prints as that string (fmt's handleMethods)
        return _format_string_arg(text, spec)
    if isinstance(value, (Mapping, GoStruct, GoSlice)):
        return _format_container(value, spec)
    if value is None or isinstance(value, NoValue):
        return _pad("<nil>", spec, zeros="never") if spec.verb == "v" else _bad_verb(None, spec.verb)
    kind = go_type(value)
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


def print_value(value: Value) -> str:
    """Print a value the way text/template prints the result of an action."""
    if isinstance(value, NoValue):
        return "<no value>"
    return format_arg(value, PLAIN)


def sprint(args: Sequence[Value]) -> str:
    """Go's fmt.Sprint: spaces between operands when neither side is a string."""
    parts: list[str] = []
    previous_was_string = False
    for position, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if position > 0 and not is_string and not previous_was_string:
            parts.append(" ")
        parts.append(format_arg(arg, PLAIN))
        previous_was_string = is_string
    return "".join(parts)


def sprintln(args: Sequence[Value]) -> str:
    """Go's fmt.Sprintln: spaces between all operands and a final newline."""
    return " ".join(format_arg(arg, PLAIN) for arg in args) + "\n"


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


def _parse_directive(fmt: str, start: int) -> tuple[Spec, int]:
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
    spec = Spec(
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


def sprintf(fmt: str, args: Sequence[Value]) -> str:
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
            out.append(format_arg(args[arg_index], spec))
            arg_index += 1
        size += len(out[-1])
        if size > MAX_OUTPUT_CHARS:
            raise TemplateError(f"printf output exceeds {MAX_OUTPUT_CHARS} characters")
    if arg_index < len(args):
        extra = ", ".join(
            "<nil>" if arg is None else f"{go_type(arg)}={format_arg(arg, PLAIN)}" for arg in args[arg_index:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
