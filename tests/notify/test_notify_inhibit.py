"""Inhibition as Alertmanager's inhibit.go: source, target, equal, and no self-inhibition."""

from __future__ import annotations

from agent.config.alerting import InhibitRuleConfig
from agent.notify.inhibit import Inhibitor

CLUSTER_DOWN = InhibitRuleConfig(
    source_matchers=['alertname="KafkaClusterDown"'], target_matchers=['severity=~"warning|info"'], equal=["cluster"]
)

SOURCE = {"alertname": "KafkaClusterDown", "cluster": "main", "severity": "critical"}
TARGET = {"alertname": "ConsumerLag", "cluster": "main", "severity": "warning"}


def test_firing_source_mutes_a_matching_target_with_equal_labels() -> None:
    assert Inhibitor([CLUSTER_DOWN]).mutes(TARGET, [SOURCE])


def test_target_with_different_equal_label_is_not_muted() -> None:
    assert not Inhibitor([CLUSTER_DOWN]).mutes({**TARGET, "cluster": "other"}, [SOURCE])


def test_alert_not_matching_the_target_matchers_is_not_muted() -> None:
    assert not Inhibitor([CLUSTER_DOWN]).mutes({**TARGET, "severity": "critical"}, [SOURCE])


def test_nothing_is_muted_without_a_firing_source() -> None:
    assert not Inhibitor([CLUSTER_DOWN]).mutes(TARGET, [TARGET])


def test_label_missing_on_both_sides_counts_as_equal() -> None:
    source = {k: v for k, v in SOURCE.items() if k != "cluster"}
    target = {k: v for k, v in TARGET.items() if k != "cluster"}
    assert Inhibitor([CLUSTER_DOWN]).mutes(target, [source])


def test_alert_never_inhibits_itself() -> None:
    rule = InhibitRuleConfig(source_matchers=["severity=critical"], target_matchers=["severity=critical"])
    alert = {"alertname": "Down", "severity": "critical"}
    assert not Inhibitor([rule]).mutes(alert, [alert])


def test_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    rule = InhibitRuleConfig(source_matchers=["severity=critical"], target_matchers=["severity=critical"])
    first, second = {"alertname": "A", "severity": "critical"}, {"alertname": "B", "severity": "critical"}
    assert not Inhibitor([rule]).mutes(first, [first, second])


def test_deprecated_match_forms_still_work() -> None:
    rule = InhibitRuleConfig(
        source_match={"alertname": "KafkaClusterDown"}, target_match_re={"severity": "warning|info"}, equal=["cluster"]
    )
    assert Inhibitor([rule]).mutes(TARGET, [SOURCE])


def test_source_matching_both_sides_still_mutes_a_target_matching_only_the_target_side() -> None:
    rule = InhibitRuleConfig(source_matchers=["severity=critical"], target_matchers=["team=data"])
    source = {"alertname": "Down", "severity": "critical", "team": "data"}
    assert Inhibitor([rule]).mutes({"alertname": "Lag", "severity": "warning", "team": "data"}, [source])


def test_inhibited_by_names_exactly_the_sources_that_mute() -> None:
    """Alertmanager's inhibitedBy: the fingerprints of the muting sources, the same decision as mutes()."""
    both_sides = InhibitRuleConfig(source_matchers=["severity=critical"], target_matchers=['alertname=~".+"'])
    firing = {
        "fp-down": SOURCE,
        "fp-other-cluster": {**SOURCE, "cluster": "other"},
        "fp-lag": TARGET,
    }
    snapshot = Inhibitor([CLUSTER_DOWN]).snapshot(firing)
    assert snapshot.inhibited_by(TARGET) == ["fp-down"]
    assert snapshot.inhibited_by({**TARGET, "cluster": "third"}) == []
    # A rule whose target side also matches the source: a critical alert is muted by the others, not itself.
    snapshot = Inhibitor([both_sides]).snapshot({"a": SOURCE, "b": {**SOURCE, "cluster": "x"}})
    assert snapshot.inhibited_by(TARGET) == ["a", "b"]
    assert snapshot.inhibited_by(SOURCE) == [] and not snapshot.mutes(SOURCE)
