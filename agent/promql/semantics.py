"""Which Prometheus an expression means: one value object handed to the parser and the engine.

Prometheus 3 changed what some rules mean (left-open ranges, `.` matching newlines, renamed
functions); a rule file shared with a central Prometheus must mean here what it means there.
`promql_compat: 3` (the default) follows Prometheus 3, `promql_compat: 2` follows 2.42.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

EXPERIMENTAL_FEATURE = "promql-experimental-functions"


class PromQLCompat(enum.IntEnum):
    """The Prometheus major version whose PromQL semantics apply."""

    V2 = 2
    V3 = 3


@dataclass(frozen=True, slots=True)
class Semantics:
    """The PromQL dialect of one parse or evaluation: compat version and the experimental switch."""

    compat: PromQLCompat = PromQLCompat.V3
    experimental_functions: bool = False  # Prometheus 3's --enable-feature=promql-experimental-functions

    @property
    def left_open(self) -> bool:
        """Range selectors, subqueries and the lookback exclude their left end (Prometheus 3)."""
        return self.compat >= PromQLCompat.V3

    @property
    def regex_dot_all(self) -> bool:
        """A regex `.` matches a newline too (Prometheus 3)."""
        return self.compat >= PromQLCompat.V3

    @property
    def metadata_labels(self) -> bool:
        """`__type__` and `__unit__` go where the metric name goes (Prometheus 3's schema.IsMetadataLabel).

        Dropped with the name, left out of `without` groups and `ignoring` (and default) matching,
        never copied into absent()'s labels; 2.42 treats them as ordinary labels.
        """
        return self.compat >= PromQLCompat.V3

    def describe(self) -> str:
        """How `rules test` names the semantics it used."""
        if self.compat == PromQLCompat.V2:
            return "Prometheus 2.42 (promql_compat: 2)"
        extra = ", experimental functions enabled" if self.experimental_functions else ""
        return f"Prometheus 3 (promql_compat: 3{extra})"


DEFAULT_SEMANTICS = Semantics()


def semantics_of(compat: str | int, *, experimental_functions: bool = False) -> Semantics:
    """The semantics a config's `promql_compat` or a `--promql-compat` flag asks for."""
    return Semantics(parse_compat(compat), experimental_functions)


def parse_compat(text: str | int) -> PromQLCompat:
    """`3` or `2` (as typed in the config or on the command line); ValueError otherwise."""
    try:
        return PromQLCompat(int(str(text).strip()))
    except ValueError:
        raise ValueError(f"promql_compat: expected 3 or 2, got {text!r}") from None
