"""Inhibition, as Alertmanager's inhibit/inhibit.go: a firing source alert mutes matching targets.

A rule mutes an alert matching its target matchers while some firing alert matches its source
matchers and has the same values (missing counts as empty) for every `equal` label. When the
target also matches the source matchers, source alerts that also match the target matchers
are not counted, so an alert never inhibits itself and two such alerts never mute each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.config.alerting import InhibitRuleConfig
from agent.notify.matchers import Matchers, MatchType, equality_matchers, matches_all, parse_matcher_list

LabelMap = Mapping[str, str]


@dataclass(frozen=True)
class InhibitRule:
    """One parsed inhibit rule."""

    source: Matchers
    target: Matchers
    equal: tuple[str, ...]

    def index(self, firing: Iterable[LabelMap] | Mapping[str, LabelMap]) -> _SourceIndex:
        """The firing alerts matching the source side, by their `equal` values, looked up per target.

        Given a mapping of fingerprint to labels, the index also says which alerts mute a target.
        """
        index = _SourceIndex(self)
        pairs = firing.items() if isinstance(firing, Mapping) else (("", labels) for labels in firing)
        for fp, labels in pairs:
            if matches_all(self.source, labels):
                index.add(labels, fp)
        return index


class _SourceIndex:
    """A rule's source alerts by equal-label values, split by whether they also match the target side.

    Built once per flush, so asking about each of N targets costs O(1), not O(N) sources.
    """

    def __init__(self, rule: InhibitRule) -> None:
        self.rule = rule
        # By key: the fingerprints of the sources not matching the target matchers, and of those that do.
        self.one_sided: dict[tuple[str, ...], list[str]] = {}
        self.two_sided: dict[tuple[str, ...], list[str]] = {}

    def _key(self, labels: LabelMap) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.rule.equal)

    def add(self, source: LabelMap, fp: str = "") -> None:
        both = matches_all(self.rule.target, source)
        (self.two_sided if both else self.one_sided).setdefault(self._key(source), []).append(fp)

    def mutes(self, target: LabelMap) -> bool:
        if not matches_all(self.rule.target, target):
            return False
        key = self._key(target)
        if key in self.one_sided:
            return True
        # A target that also matches the source side ignores sources matching both sides,
        # so an alert never inhibits itself.
        return key in self.two_sided and not matches_all(self.rule.source, target)

    def sources(self, target: LabelMap) -> list[str]:
        """The fingerprints of the sources that mute `target` under this rule (the same decision as `mutes`)."""
        if not matches_all(self.rule.target, target):
            return []
        key = self._key(target)
        found = list(self.one_sided.get(key, ()))
        if not matches_all(self.rule.source, target):
            found.extend(self.two_sided.get(key, ()))
        return found


def rule_matchers(config: InhibitRuleConfig) -> tuple[Matchers, Matchers]:
    """Source and target matchers of a rule, deprecated map forms included; MatcherError if bad."""
    source = (
        *equality_matchers(config.source_match, MatchType.EQUAL),
        *equality_matchers(config.source_match_re, MatchType.REGEX),
        *parse_matcher_list(config.source_matchers),
    )
    target = (
        *equality_matchers(config.target_match, MatchType.EQUAL),
        *equality_matchers(config.target_match_re, MatchType.REGEX),
        *parse_matcher_list(config.target_matchers),
    )
    return source, target


class Inhibitor:
    """All inhibit rules of the config."""

    def __init__(self, configs: Sequence[InhibitRuleConfig] = ()) -> None:
        """Compile the inhibit rules."""
        self.rules = tuple(InhibitRule(*rule_matchers(c), tuple(c.equal)) for c in configs)

    def snapshot(self, firing: Sequence[LabelMap] | Mapping[str, LabelMap]) -> InhibitionSnapshot:
        """What mutes what while exactly the alerts with labels `firing` (or fingerprint -> labels) fire."""
        return InhibitionSnapshot([rule.index(firing) for rule in self.rules])

    def mutes(self, target: LabelMap, firing: Sequence[LabelMap]) -> bool:
        """Whether any rule mutes `target` while the alerts with labels `firing` fire."""
        return self.snapshot(firing).mutes(target)


class InhibitionSnapshot:
    """The inhibit rules' source alerts at one moment, asked about one target at a time."""

    def __init__(self, indexes: Sequence[_SourceIndex]) -> None:
        """Hold the source alerts of each rule, indexed by their equal labels."""
        self._indexes = indexes

    def mutes(self, target: LabelMap) -> bool:
        """Whether a firing source alert of some rule mutes the alert with labels `target`."""
        return any(index.mutes(target) for index in self._indexes)

    def inhibited_by(self, target: LabelMap) -> list[str]:
        """The fingerprints of the firing alerts that mute `target` (Alertmanager's `inhibitedBy`).

        Only a snapshot taken from fingerprint -> labels knows them; one taken from bare label sets
        answers with empty strings.
        """
        return sorted({fp for index in self._indexes for fp in index.sources(target)})
