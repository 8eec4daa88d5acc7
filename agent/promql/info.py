"""info(v, {selector}): add the data labels of info series (target_info by default) to each series.

Prometheus 3's experimental info() (promql/info.go): a series is joined with the info series
that have the same identifying labels (`instance`, `job`, empty when absent) and a name the
selector accepts; the info series' other labels are added unless the series has them already.
With data-label matchers, only those labels are added, and a series no info series matches is
dropped unless every matcher accepts an empty value. Series that are info series themselves
pass through unchanged. The info series are read at the `@` time and offset the argument's
selectors share, or at the evaluation time when they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import promql_parser

from agent.model import Labels
from agent.promql.context import EvalContext, duration_ms
from agent.promql.errors import EvalError
from agent.promql.nodes import VectorNode, check_unique
from agent.promql.selectors import Predicate, at_ms, compile_matcher, compile_regex
from agent.promql.semantics import Semantics
from agent.promql.support import children, static_kind
from agent.promql.syntax3 import matchers_of
from agent.promql.values import METADATA_LABELS, NAME, InstantSample, InstantVector, full_labels

TARGET_INFO = "target_info"
IDENTIFYING = ("instance", "job")
InfoKey = tuple[str, str, str]  # info metric name, instance, job
InfoPoint = tuple[str, Labels, int]  # name, labels, the point's own time
_POSITIVE = (promql_parser.MatchOp.Equal, promql_parser.MatchOp.Re)


@dataclass(frozen=True, slots=True)
class Reference:
    """When info series are read: the `@` time (or None for the evaluation time) and the offset."""

    at: int | str | None
    offset_ms: int

    def same_time(self, other: Reference) -> bool:
        """Whether both read at one time (Prometheus' infoSeriesReference.equal)."""
        if self.at is None or other.at is None or isinstance(self.at, str) or isinstance(other.at, str):
            return self.at == other.at and self.offset_ms == other.offset_ms
        return self.at - self.offset_ms == other.at - other.offset_ms


def info_reference(expr: promql_parser.Expr) -> Reference:
    """The time the argument's selectors share (a subquery's `@` and offset count), else the evaluation time."""
    found: list[Reference] = []
    reference_free = False

    def inspect(node: promql_parser.Expr, path: list[promql_parser.Expr]) -> bool:
        nonlocal reference_free
        if static_kind(node) not in ("vector", "matrix"):
            return False
        if isinstance(node, promql_parser.VectorSelector):
            found.append(_selector_reference(node, path))
            return True
        path = [*path, node]
        if isinstance(node, promql_parser.Call) and node.func.name == "info":
            return inspect(node.args[0], path)
        results = [inspect(child, path) for child in children(node)]
        if not any(results):
            reference_free = True
        return any(results)

    inspect(expr, [])
    if not found or reference_free or not all(found[0].same_time(ref) for ref in found[1:]):
        return Reference(None, 0)
    return found[0]


def _selector_reference(node: promql_parser.VectorSelector, path: list[promql_parser.Expr]) -> Reference:
    at, offset = at_ms(node.at), duration_ms(node.offset)
    for parent in reversed(path):
        if at is not None:
            break
        if isinstance(parent, promql_parser.SubqueryExpr):
            offset += duration_ms(parent.offset)
            at = at_ms(parent.at)
    return Reference(at, offset)


class InfoNode(VectorNode):
    """info(v) and info(v, {selector})."""

    def __init__(
        self,
        inner: VectorNode,
        arg: promql_parser.Expr,
        selector: promql_parser.VectorSelector | None,
        semantics: Semantics,
    ) -> None:
        self.inner = inner
        self.reference = info_reference(arg)
        matchers = matchers_of(selector) if selector is not None else []
        dot_all = semantics.regex_dot_all
        names: list[tuple[bool, Predicate]] = [(True, selector.name.__eq__)] if selector and selector.name else []
        names += [(m.op in _POSITIVE, compile_matcher(m, dot_all)) for m in matchers if m.name == NAME]
        self.name_predicates = _effective_name_predicates(names, dot_all)
        data = [m for m in matchers if m.name != NAME]
        self.data_predicates = [(m.name, compile_matcher(m, dot_all)) for m in data]
        self.data_labels = frozenset(m.name for m in data)
        self.empty_allowed = all(predicate("") for _, predicate in self.data_predicates)

    def is_info(self, name: str | None) -> bool:
        """Whether a series' name makes it an info series of this call (then it passes through)."""
        return all(predicate(name or "") for predicate in self.name_predicates)

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Each series of the argument with its info series' data labels added."""
        base = self.inner.vector(ctx, t)
        if not base:
            return []
        joined = [s for s in base if not self.is_info(s[0])]
        infos = self._info_points(ctx, t, _identifying_groups(joined))
        out: InstantVector = []
        for sample in base:
            if not self.is_info(sample[0]):
                enriched = self._enrich(sample, infos)
                if enriched is not None:
                    out.append(enriched)
            else:
                out.append(sample)
        return check_unique(out)

    def _info_points(
        self, ctx: EvalContext, t: int, groups: dict[tuple[bool, bool], _Group]
    ) -> dict[InfoKey, InfoPoint]:
        """The newest info series per (name, instance, job) at the reference time; equal times are an error."""
        ref = ctx.modifier_ms(self.reference.at, t) - self.reference.offset_ms
        lookback = ctx.lookback_ms + (0 if ctx.semantics.left_open else 1)
        best: dict[InfoKey, InfoPoint] = {}
        for name in ctx.store.names():
            if not self.is_info(name):
                continue
            for series in ctx.store.family(name):
                labels = dict(series.labels)
                key = (name, labels.get("instance", ""), labels.get("job", ""))
                if not _selected(key, groups) or not all(p(labels.get(n, "")) for n, p in self.data_predicates):
                    continue
                point = series.at(ref, lookback)
                if point is not None:
                    _keep_newest(best, key, (name, series.labels, point[0]))
        return best

    def _enrich(self, sample: InstantSample, infos: dict[InfoKey, InfoPoint]) -> InstantSample | None:
        name, labels, value = sample
        own = dict(labels)
        identity = (own.get("instance", ""), own.get("job", ""))
        added: dict[str, str] = {}
        matched = False
        for info_name in sorted({key[0] for key in infos}):
            info = infos.get((info_name, *identity))
            if info is None:
                continue
            matched = True
            for label, label_value in info[1]:
                if label in METADATA_LABELS or (self.data_labels and label not in self.data_labels):
                    continue
                if added.get(label, label_value) != label_value:
                    raise EvalError(f"conflicting label: {label}")
                if label not in own:
                    added[label] = label_value
        if not matched and not self.empty_allowed:
            return None
        return name, tuple(sorted({**own, **added}.items())), value


@dataclass(slots=True)
class _Group:
    """The identifying values of the series that have the same identifying labels present."""

    instances: set[str]
    jobs: set[str]


def _identifying_groups(samples: Sequence[InstantSample]) -> dict[tuple[bool, bool], _Group]:
    """Per presence of instance and job, their values (Prometheus selects info series by these)."""
    groups: dict[tuple[bool, bool], _Group] = {}
    for _, labels, _ in samples:
        own = dict(labels)
        instance, job = own.get("instance", ""), own.get("job", "")
        if not instance and not job:
            continue
        group = groups.setdefault((bool(instance), bool(job)), _Group(set(), set()))
        group.instances.add(instance)
        group.jobs.add(job)
    return groups


def _selected(key: InfoKey, groups: dict[tuple[bool, bool], _Group]) -> bool:
    """Whether Prometheus' identifying matchers would select an info series with these values."""
    _, instance, job = key
    group = groups.get((bool(instance), bool(job)))
    return group is not None and instance in group.instances and job in group.jobs


def _keep_newest(best: dict[InfoKey, InfoPoint], key: InfoKey, point: InfoPoint) -> None:
    """Keep the info series with the newest point per key; two at one time cannot be told apart."""
    existing = best.get(key)
    if existing is None or existing[2] < point[2]:
        best[key] = point
    elif existing[2] == point[2]:
        raise EvalError(
            f"found duplicate series for info metric: existing {_show(existing)} @ {existing[2]}, "
            f"new {_show(point)} @ {point[2]}"
        )


def _show(point: InfoPoint) -> str:
    pairs = ", ".join(f'{key}="{value}"' for key, value in full_labels(point[0], point[1]))
    return "{" + pairs + "}"


def _effective_name_predicates(names: list[tuple[bool, Predicate]], dot_all: bool) -> list[Predicate]:
    """Which names are info series: the selector's (positive?, predicate) name matchers, `.+_info` added to
    negative-only ones, target_info without any."""
    predicates = [predicate for _, predicate in names]
    if any(positive for positive, _ in names):
        return predicates
    if names:
        return [compile_regex(".+_info", dot_all).matches, *predicates]
    return [TARGET_INFO.__eq__]
