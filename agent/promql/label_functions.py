"""label_replace and label_join: rewrite labels of each sample, keeping the metric name."""

from __future__ import annotations

from agent.gocompat.regex import expand
from agent.model import Labels
from agent.promql.context import EvalContext
from agent.promql.errors import PromQLError
from agent.promql.nodes import VectorNode, check_unique
from agent.promql.selectors import compile_regex
from agent.promql.values import LABEL_NAME, InstantSample, InstantVector, full_labels, split_name


def _set_label(name: str | None, labels: Labels, key: str, value: str) -> tuple[str | None, Labels]:
    """Set (or, for an empty value, delete) one label, `__name__` included."""
    merged = dict(full_labels(name, labels))
    if value:
        merged[key] = value
    else:
        merged.pop(key, None)
    return split_name(tuple(sorted(merged.items())))


class LabelReplaceNode(VectorNode):
    """label_replace(v, dst, replacement, src, regex)."""

    def __init__(
        self, inner: VectorNode, dst: str, replacement: str, src: str, regex: str, *, dot_all: bool = True
    ) -> None:
        if not LABEL_NAME.fullmatch(dst):
            raise PromQLError(f"invalid destination label name in label_replace(): {dst}")
        self.inner = inner
        self.dst, self.replacement, self.src = dst, replacement, src
        try:
            self.regex = compile_regex(regex, dot_all)
        except PromQLError:
            raise PromQLError(f"invalid regular expression in label_replace(): {regex}") from None  # Prometheus' words

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Each sample with `dst` set from the regex match on `src`; non-matching samples unchanged."""
        return check_unique([self._apply(sample) for sample in self.inner.vector(ctx, t)])

    def _apply(self, sample: InstantSample) -> InstantSample:
        name, labels, value = sample
        source = dict(full_labels(name, labels)).get(self.src, "")
        match = self.regex.search(source)
        if match is None:
            return sample
        name, labels = _set_label(name, labels, self.dst, expand(self.replacement, match))
        return name, labels, value


class LabelJoinNode(VectorNode):
    """label_join(v, dst, separator, src...)."""

    def __init__(self, inner: VectorNode, dst: str, separator: str, sources: list[str]) -> None:
        if not LABEL_NAME.fullmatch(dst):
            raise PromQLError(f"invalid destination label name in label_join(): {dst}")
        for source in sources:
            if not LABEL_NAME.fullmatch(source):
                raise PromQLError(f"invalid source label name in label_join(): {source}")
        self.inner = inner
        self.dst, self.separator, self.sources = dst, separator, sources

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Each sample with `dst` set to its source labels' values joined by the separator."""
        out: InstantVector = []
        for name, labels, value in self.inner.vector(ctx, t):
            present = dict(full_labels(name, labels))
            joined = self.separator.join(present.get(source, "") for source in self.sources)
            out.append((*_set_label(name, labels, self.dst, joined), value))
        return check_unique(out)
