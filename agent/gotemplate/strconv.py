"""Go's strconv for templates: ParseFloat (agent.gocompat's), ParseInt with base prefixes, and Unquote."""

from __future__ import annotations

import re

from agent.gocompat.strconv import parse_float as go_parse_float
from agent.gotemplate.value import TemplateError


def parse_float(text: str) -> float:
    """Go's strconv.ParseFloat(text, 64), including its error messages, as a TemplateError."""
    try:
        return go_parse_float(text)
    except ValueError as exc:
        raise TemplateError(str(exc)) from None


_GO_OCTAL = re.compile(r"[+-]?0[0-7_]+")


def parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), or None."""
    try:
        value = int(text.replace("0", "0o", 1) if _GO_OCTAL.fullmatch(text) and "_" not in text else text, 0)
    except ValueError:
        return None
    return value if -(2**63) <= value < 2**63 else None


def parse_float_or_none(text: str) -> float | None:
    """strconv.ParseFloat for a numeric literal, or None."""
    try:
        return parse_float(text)
    except TemplateError:
        return None


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\\"'])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")


def unquote(literal: str) -> str:
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
