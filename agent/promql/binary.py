"""Binary operators between scalars and vectors: arithmetic, comparisons (with `bool`), set operators."""

from __future__ import annotations

from agent.promql.arithmetic import ARITHMETIC, COMPARISON, element_op, scalar_op
from agent.promql.context import EvalContext
from agent.promql.errors import EvalError
from agent.promql.matching import Matching, Signature, result_labeller, signatures
from agent.promql.nodes import ScalarNode, VectorNode, check_unique, names_dropped
from agent.promql.semantics import PromQLCompat
from agent.promql.values import InstantSample, InstantVector, full_labels, without_type_and_unit


class ScalarBinaryNode(ScalarNode):
    """scalar op scalar."""

    def __init__(self, op: str, lhs: ScalarNode, rhs: ScalarNode) -> None:
        self.fn = scalar_op(op)
        self.lhs, self.rhs = lhs, rhs

    def scalar(self, ctx: EvalContext, t: int) -> float:
        """Apply the operator to both sides at `t` (milliseconds)."""
        return self.fn(self.lhs.scalar(ctx, t), self.rhs.scalar(ctx, t))


class VectorScalarNode(VectorNode):
    """vector op scalar, or scalar op vector (`scalar_left`); a filter keeps the vector's value."""

    def __init__(
        self,
        op: str,
        vector: VectorNode,
        scalar: ScalarNode,
        scalar_left: bool,
        return_bool: bool,
        *,
        keep_name: bool = False,
    ) -> None:
        """`keep_name`: an arithmetic operator that keeps the metric name (2.42's atan2)."""
        self.fn = element_op(op)
        self.comparison = op not in ARITHMETIC
        self.filter = COMPARISON[op] if self.comparison and not return_bool else None
        self.vector_node, self.scalar_node = vector, scalar
        self.scalar_left = scalar_left
        self.return_bool = return_bool
        self.drop_name = (op in ARITHMETIC and not keep_name) or return_bool

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Apply the operator to each sample and the scalar; a comparison without `bool` filters."""
        samples = self.vector_node.vector(ctx, t)
        scalar = self.scalar_node.scalar(ctx, t)
        if self.filter is not None:  # the threshold of most rules: samples kept as they are, or not
            compare = self.filter
            if self.scalar_left:
                return [sample for sample in samples if compare(scalar, sample[2])]
            return [sample for sample in samples if compare(sample[2], scalar)]
        fn, out = self.fn, []
        for name, labels, value in samples:
            if self.scalar_left:
                result, keep = fn(scalar, value)
                if self.comparison:
                    result = value
            else:
                result, keep = fn(value, scalar)
            if self.return_bool:
                result, keep = (1.0 if keep else 0.0), True
            if keep:
                out.append((None if self.drop_name else name, labels, result))
        return names_dropped(out, ctx) if self.drop_name else out


class VectorVectorNode(VectorNode):
    """vector op vector with one-to-one or many-to-one/one-to-many matching."""

    def __init__(
        self,
        op: str,
        lhs: VectorNode,
        rhs: VectorNode,
        matching: Matching,
        return_bool: bool,
        *,
        keep_name: bool = False,
    ) -> None:
        """`keep_name`: an arithmetic operator that keeps the metric name (2.42's atan2)."""
        self.fn = element_op(op)
        self.lhs, self.rhs = lhs, rhs
        self.matching = matching
        self.signatures = signatures(matching)
        self.return_bool = return_bool
        self.drop_name = op in ARITHMETIC and not keep_name
        self.result_labels = result_labeller(matching, self.drop_name or return_bool)

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Match samples of both sides by signature and apply the operator.

        Raises EvalError when the matching is not the cardinality the expression declares (many
        matches for one-to-one, duplicate results).
        """
        lhs, rhs = self.lhs.vector(ctx, t), self.rhs.vector(ctx, t)
        if not lhs or not rhs:
            return []
        swapped = self.matching.card == "one-to-many"
        if swapped:
            lhs, rhs = rhs, lhs
        metadata = ctx.semantics.metadata_labels
        signature_of = self.signatures[metadata]
        right = self._index_one_side(
            rhs, swapped, signature_of, sort_duplicates=ctx.semantics.compat >= PromQLCompat.V3
        )
        out: InstantVector = []
        # Per signature: the result label sets produced so far (one-to-one allows only one).
        matched: dict[object, set[object]] = {}
        # Prometheus 3 holds every match to the cardinality, also one a comparison then drops; 2.42
        # only the samples it keeps.
        every_match = ctx.semantics.compat >= PromQLCompat.V3
        for sample in lhs:
            sig = signature_of(sample[0], sample[1])
            other = right.get(sig)
            if other is None:
                continue
            combined = self._combine(sample, other, swapped, metadata, every_match=every_match)
            if combined is not None:
                result, kept = combined
                self._check_cardinality(matched.setdefault(sig, set()), result)
                if kept:
                    out.append(result)
        return check_unique(out)

    @staticmethod
    def _index_one_side(
        rhs: InstantVector, swapped: bool, signature_of: Signature, *, sort_duplicates: bool
    ) -> dict[object, InstantSample]:
        """The "one" side by signature; `sort_duplicates`: name two clashing series in sorted order (Prometheus 3)."""
        index: dict[object, InstantSample] = {}
        for sample in rhs:
            sig = signature_of(sample[0], sample[1])
            if sig in index:
                side = "left" if swapped else "right"
                dup = index[sig]
                pair = [_show(sample[0], sample[1]), _show(dup[0], dup[1])]
                if sort_duplicates:
                    pair.sort()
                raise EvalError(
                    f"found duplicate series for the match group {_show(None, sig)} on the {side} hand-side of the "
                    f"operation: [{pair[0]}, {pair[1]}];many-to-many matching not allowed: matching labels must be "
                    "unique on one side"
                )
            index[sig] = sample
        return index

    def _combine(
        self, many: InstantSample, one: InstantSample, swapped: bool, metadata: bool, *, every_match: bool
    ) -> tuple[InstantSample, bool] | None:
        """The result of one match and whether it is kept (a comparison may drop it); None when it is
        dropped and not `every_match`. `metadata`: `__type__` and `__unit__` go with a dropped name."""
        left, right = (one[2], many[2]) if swapped else (many[2], one[2])
        value, keep = self.fn(left, right)
        if self.return_bool:
            value, keep = (1.0 if keep else 0.0), True
        elif not keep and not every_match:
            return None
        drop = self.drop_name or self.return_bool
        many_labels = without_type_and_unit(many[1]) if drop and metadata else many[1]
        name, labels = self.result_labels((many[0], many_labels), (one[0], one[1]))
        return (name, labels, value), keep

    def _check_cardinality(self, produced: set[object], result: InstantSample) -> None:
        """Refuse a second match for a signature (one-to-one) or a repeated result (many-to-one)."""
        if self.matching.card == "one-to-one":
            if produced:
                raise EvalError(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                )
        elif (result[0], result[1]) in produced:
            raise EvalError("multiple matches for labels: grouping labels must ensure unique matches")
        produced.add((result[0], result[1]))


class SetOperatorNode(VectorNode):
    """`and`, `or`, `unless`: keep or add whole samples by signature; labels and names are untouched."""

    def __init__(self, op: str, lhs: VectorNode, rhs: VectorNode, matching: Matching) -> None:
        self.op = op
        self.lhs, self.rhs = lhs, rhs
        self.signatures = signatures(matching)

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Evaluate `and`, `or` or `unless` at `t` (milliseconds)."""
        lhs, rhs = self.lhs.vector(ctx, t), self.rhs.vector(ctx, t)
        sig = self.signatures[ctx.semantics.metadata_labels]
        if self.op == "and":
            if not lhs or not rhs:
                return []
            keys = {sig(name, labels) for name, labels, _ in rhs}
            return [s for s in lhs if sig(s[0], s[1]) in keys]
        if self.op == "or":
            keys = {sig(name, labels) for name, labels, _ in lhs}
            return lhs + [s for s in rhs if sig(s[0], s[1]) not in keys]
        if not rhs:
            return lhs
        keys = {sig(name, labels) for name, labels, _ in rhs}
        return [s for s in lhs if sig(s[0], s[1]) not in keys]


def _show(name: str | None, labels: tuple[tuple[str, str], ...]) -> str:
    """A label set as Prometheus prints it: {a="b", c="d"}."""
    pairs = ", ".join(f'{key}="{value}"' for key, value in full_labels(name, labels))
    return "{" + pairs + "}"
