"""promtool's series description ("expanding notation"): `name{a="b"} 1+2x3 _ stale 7`.

As promql/parser's ParseSeriesDesc: `a+bxN` and `a-bxN` give N+1 values by repeated addition,
`axN` gives N+1 copies of a, `_` is one missing point and `_xN` N of them, `stale` is a
staleness marker. Values are listed one per interval, starting at time 0.
"""

from __future__ import annotations

import re

from agent.gotemplate.strconv import unquote
from agent.gotemplate.value import TemplateError
from agent.model import Labels
from agent.promql.errors import PromQLError
from agent.promql.values import NAME
from agent.store import STALE_NAN

_NUMBER = r"(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF]|[nN][aA][nN])"
_ITEM = re.compile(rf"(?P<base>[+-]?{_NUMBER})(?:(?P<delta>[+-]{_NUMBER})?x(?P<times>\d+))?")
_BLANK = re.compile(r"_(?:x(?P<times>\d+))?")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_EQUALS = re.compile(r"\s*=\s*")
_LABEL = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*")
# Unquoted UTF-8 names, as the parser promtool 3 reads test series with: Unicode letters anywhere,
# digits and dots after the first character.
_UTF8_IDENT = re.compile(r"(?:[^\W\d]|:)[\w.:]*")
_UTF8_LABEL = re.compile(r"\s*([^\W\d][\w.]*)\s*=\s*")


def parse_series(text: str, utf8_names: bool = False) -> tuple[Labels, list[float | None]]:
    """A series description: its labels (with `__name__`, sorted) and its values (None = missing).

    `utf8_names`: names may be written unquoted with Unicode letters and dots (`温度{場所="東京"}`),
    as promtool 3's test loader reads them; 2.42 reads only the classic characters.
    """
    labels, rest = parse_metric_prefix(text.strip(), utf8_names)
    return labels, parse_values(rest)


# Points one series description may expand to: ample for any test, and far from exhausting memory
# (`0+1x999999999999` would otherwise hang `rules test` until the kernel kills it).
MAX_POINTS = 1_000_000


def parse_values(text: str) -> list[float | None]:
    """The value part of a series description, expanded."""
    values: list[float | None] = []
    for token in text.split():
        values.extend(_expand(token, MAX_POINTS - len(values)))
    return values


def _expand(token: str, room: int) -> list[float | None]:
    if token == "stale":
        return [STALE_NAN]
    blank = _BLANK.fullmatch(token)
    if blank is not None:
        return [None] * _times(token, blank["times"], room, 0)
    item = _ITEM.fullmatch(token)
    if item is None:
        raise PromQLError(f"bad value in series description: {token!r}")
    value = float(item["base"])
    if item["times"] is None:
        return [value]
    delta = float(item["delta"]) if item["delta"] else 0.0
    out: list[float | None] = [value]
    for _ in range(_times(token, item["times"], room, 1)):
        value += delta
        out.append(value)
    return out


def _times(token: str, times: str | None, room: int, extra: int) -> int:
    """The repeat count of a token (1 without one), refused when it would pass MAX_POINTS in all."""
    count = int(times) if times else 1 - extra
    if count + extra > room:
        raise PromQLError(f"series description expands to more than {MAX_POINTS} points at {token!r}")
    return count


def parse_metric(text: str, utf8_names: bool = False) -> Labels:
    """A series selector `name{a="b"}` or `{__name__="x", a="b"}` as sorted labels with `__name__`."""
    labels, rest = parse_metric_prefix(text.strip(), utf8_names)
    if rest.strip():
        raise PromQLError(f"unexpected text after series labels: {rest.strip()!r}")
    return labels


def parse_metric_prefix(text: str, utf8_names: bool = False) -> tuple[Labels, str]:
    """Parse the labels at the start of `text`; return them and what follows."""
    pairs: dict[str, str] = {}
    pos = 0
    name = (_UTF8_IDENT if utf8_names else _IDENT).match(text)
    if name is not None:
        pairs[NAME] = name.group()
        pos = name.end()
    if pos < len(text) and text[pos] == "{":
        pos = _parse_braces(text, pos + 1, pairs, _UTF8_LABEL if utf8_names else _LABEL)
    elif name is None:
        raise PromQLError(f"series description must start with a metric name or '{{': {text!r}")
    return tuple(sorted((k, v) for k, v in pairs.items() if v)), text[pos:]


def _parse_braces(text: str, pos: int, pairs: dict[str, str], label_name: re.Pattern[str]) -> int:
    """Read `a="b", c='d'}` from `pos`; return the position after the closing brace."""
    while True:
        while pos < len(text) and text[pos] in " \t,":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return pos + 1
        if text[pos : pos + 1] in ('"', "'", "`"):
            pos = _parse_quoted_name(text, pos, pairs)
            continue
        label = label_name.match(text, pos)
        if label is None:
            raise PromQLError(f"bad label at position {pos} of {text!r}")
        value, pos = _parse_string(text, label.end())
        pairs[label.group(1)] = value


def _parse_quoted_name(text: str, pos: int, pairs: dict[str, str]) -> int:
    """Prometheus 3's UTF-8 names: `"my.metric"` alone is the metric name, `"a.b"="c"` a label."""
    name, pos = _parse_string(text, pos)
    equals = _EQUALS.match(text, pos)
    if equals is None:
        pairs[NAME] = name
        return pos
    value, pos = _parse_string(text, equals.end())
    pairs[name] = value
    return pos


def _parse_string(text: str, pos: int) -> tuple[str, int]:
    """A quoted label value ("...", '...' with Go's escapes, or `raw`); return it and the position after it."""
    if pos >= len(text) or text[pos] not in "\"'`":
        raise PromQLError(f"expected a quoted label value at position {pos} of {text!r}")
    quote, end = text[pos], pos + 1
    while end < len(text) and text[end] != quote:
        end += 2 if text[end] == "\\" and quote != "`" else 1
    if end >= len(text):
        raise PromQLError(f"unterminated label value in {text!r}")
    body = text[pos + 1 : end]
    if quote == "'":  # as a double-quoted Go literal: \' needs no escape there, " does
        body = re.sub(r'\\(.)|"', lambda m: '\\"' if m[0] == '"' else m[0] if m[1] != "'" else "'", body)
    try:
        return unquote(f"`{body}`" if quote == "`" else f'"{body}"'), end + 1
    except TemplateError as exc:
        raise PromQLError(f"bad label value in {text!r}: {exc}") from None
