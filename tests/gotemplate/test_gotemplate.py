"""Tests for agent/gotemplate used on its own: a caller's data, function map and refusals.

Alert templates (tests/ruler/test_alert_template.py) pin Go's semantics in detail; these
tests show that the package serves any caller, not only the ruler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import pytest

from agent import gotemplate
from agent.gotemplate import BUILTINS, Function, GoStruct, TemplateError, Value


@dataclass(frozen=True)
class Notification(GoStruct):
    """A caller's own struct, as a notifier might hand one to a message template."""

    go_type_name: ClassVar[str] = "struct { Receiver string; Labels map[string]string }"

    receiver: str
    labels: Mapping[str, str]

    def go_field(self, name: str) -> Value:
        """Read Receiver or Labels."""
        return {"Receiver": self.receiver, "Labels": self.labels}.get(name)

    def go_fields(self) -> list[Value]:
        """Receiver, then Labels."""
        return [self.receiver, self.labels]


DATA = Notification("team-db", {"severity": "page", "alertname": "DiskFull"})


def test_struct_fields_ranges_and_builtins() -> None:
    """A template walks the caller's struct with Go's builtins only."""
    text = '{{ .Receiver }}:{{ range $k, $v := .Labels }} {{ $k }}={{ printf "%q" $v }}{{ end }}'
    assert gotemplate.parse(text).execute(DATA) == 'team-db: alertname="DiskFull" severity="page"'


def test_caller_functions_are_added_like_go_funcs() -> None:
    """A function the caller registers is callable; without it, the same text does not parse."""
    funcs = {**BUILTINS, "shout": Function(("string",), False, lambda text: text.upper() + "!")}
    assert gotemplate.parse("{{ .Labels.alertname | shout }}", funcs).execute(DATA) == "DISKFULL!"
    with pytest.raises(TemplateError, match=r'1:4: function "shout" not defined'):
        gotemplate.parse("{{ shout .Receiver }}")


def test_refused_functions_and_prelude_positions() -> None:
    """A refused function is named with its reason, at its position in the caller's text, after the prelude."""
    with pytest.raises(TemplateError) as caught:
        gotemplate.parse("ok\n {{ query }}", refused={"query": "it needs a server"}, prelude="{{ $x := 1 }}")
    assert str(caught.value) == '2:5: function "query" is not supported by tripwired: it needs a server'


def test_missing_struct_field_names_the_callers_type() -> None:
    """Go's error for a field the struct lacks names the caller's Go type."""
    with pytest.raises(TemplateError, match=r"can't evaluate field Missing in type struct \{ Receiver string"):
        gotemplate.parse("{{ .Missing }}").execute(DATA)
