"""Prometheus' relabelling (model/relabel/relabel.go): a label set in, a label set or None (dropped) out.

Used by remote_write's `write_relabel_configs`. Labels here include `__name__`; regexes are RE2,
anchored at both ends as Prometheus 3 anchors them (`^(?s:regex)$`), and replacements expand
`$1`, `${name}` as Go's Regexp.Expand does (the same helper PromQL's label_replace uses).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

from agent.config.remote_write import RelabelAction, RelabelConfig
from agent.gocompat.regex import compile_anchored, expand

LabelMap = dict[str, str]
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class Relabeler:
    """A list of relabel configs, compiled once, applied to many label sets."""

    def __init__(self, configs: Sequence[RelabelConfig]) -> None:
        self._steps = [_Step(config) for config in configs]

    def __bool__(self) -> bool:
        return bool(self._steps)

    def apply(self, labels: LabelMap) -> LabelMap | None:
        """The relabelled labels (a new dict), or None when a step drops the series."""
        out = dict(labels)
        for step in self._steps:
            if not step.apply(out):
                return None
        return {name: value for name, value in out.items() if value != ""}


class _Step:
    def __init__(self, config: RelabelConfig) -> None:
        self.config = config
        self.regex = compile_anchored(config.regex)
        self._action = _ACTIONS[config.action]

    def apply(self, labels: LabelMap) -> bool:
        """Change `labels` in place; False when the series is to be dropped."""
        return self._action(self, labels)

    def _source(self, labels: LabelMap) -> str:
        return self.config.separator.join(labels.get(name, "") for name in self.config.source_labels)

    def _replace(self, labels: LabelMap) -> bool:
        match = self.regex.search(self._source(labels))
        if match is None:
            return True
        target = expand(self.config.target_label, match)
        value = expand(self.config.replacement, match)
        if not _LABEL_NAME.fullmatch(target):
            return True
        if value:
            labels[target] = value
        else:
            labels.pop(target, None)
        return True

    def _keep(self, labels: LabelMap) -> bool:
        return self.regex.matches(self._source(labels))

    def _drop(self, labels: LabelMap) -> bool:
        return not self.regex.matches(self._source(labels))

    def _keepequal(self, labels: LabelMap) -> bool:
        return self._source(labels) == labels.get(self.config.target_label, "")

    def _dropequal(self, labels: LabelMap) -> bool:
        return self._source(labels) != labels.get(self.config.target_label, "")

    def _hashmod(self, labels: LabelMap) -> bool:
        digest = hashlib.md5(self._source(labels).encode(), usedforsecurity=False).digest()
        labels[self.config.target_label] = str(int.from_bytes(digest[8:], "big") % self.config.modulus)
        return True

    def _labelmap(self, labels: LabelMap) -> bool:
        for name, value in list(labels.items()):
            match = self.regex.search(name)
            if match is not None:
                labels[expand(self.config.replacement, match)] = value
        return True

    def _labeldrop(self, labels: LabelMap) -> bool:
        for name in [n for n in labels if self.regex.matches(n)]:
            del labels[name]
        return True

    def _labelkeep(self, labels: LabelMap) -> bool:
        for name in [n for n in labels if not self.regex.matches(n)]:
            del labels[name]
        return True

    def _lowercase(self, labels: LabelMap) -> bool:
        labels[self.config.target_label] = self._source(labels).lower()
        return True

    def _uppercase(self, labels: LabelMap) -> bool:
        labels[self.config.target_label] = self._source(labels).upper()
        return True


_ACTIONS: dict[RelabelAction, Callable[[_Step, LabelMap], bool]] = {
    RelabelAction.REPLACE: _Step._replace,
    RelabelAction.KEEP: _Step._keep,
    RelabelAction.DROP: _Step._drop,
    RelabelAction.KEEPEQUAL: _Step._keepequal,
    RelabelAction.DROPEQUAL: _Step._dropequal,
    RelabelAction.HASHMOD: _Step._hashmod,
    RelabelAction.LABELMAP: _Step._labelmap,
    RelabelAction.LABELDROP: _Step._labeldrop,
    RelabelAction.LABELKEEP: _Step._labelkeep,
    RelabelAction.LOWERCASE: _Step._lowercase,
    RelabelAction.UPPERCASE: _Step._uppercase,
}
