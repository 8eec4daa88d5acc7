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

    def index(self, firing: Iterable[LabelMap]) -> _SourceIndex:
        """The firing alerts matching the source side, by their `equal` values, looked up per target."""
        index = _SourceIndex(self)
        for labels in firing:
            if matches_all(self.source, labels):
                index.add(labels)
        return index


class _SourceIndex:
    """A rule's source alerts by equal-label values, split by whether they also match the target side.

    Built once per flush, so asking about each of N targets costs O(1), not O(N) sources.
    """

    def __init__(self, rule: InhibitRule) -> None:
        self.rule = rule
        self.one_sided: set[tuple[str, ...]] = set()  # keys with a source not matching the target matchers
        self.two_sided: set[tuple[str, ...]] = set()  # keys with a source that also matches them

    def _key(self, labels: LabelMap) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.rule.equal)

    def add(self, source: LabelMap) -> None:
        both = matches_all(self.rule.target, source)
        (self.two_sided if both else self.one_sided).add(self._key(source))

    def mutes(self, target: LabelMap) -> bool:
        if not matches_all(self.rule.target, target):
            return False
        key = self._key(target)
        if key in self.one_sided:
            return True
        # A target that also matches the source side ignores sources matching both sides,
        # so an alert never inhibits itself.
        return key in self.two_sided and not matches_all(self.rule.source, target)


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

    def snapshot(self, firing: Sequence[LabelMap]) -> InhibitionSnapshot:
        """What mutes what while exactly the alerts with labels `firing` fire."""
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
