"""Rules whose result changes by the passing of time alone are evaluated when it does, not at the next tick."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.clock import FakeClock
from agent.model import Alert, AlertState, Sample, labels_of
from agent.promql import parse_expr
from agent.ruler.deadline import time_threshold
from agent.ruler.manager import RuleManager
from agent.store import Store

RULES = """\
groups:
  - name: ingest
    interval: 1m
    rules:
      - alert: TopicSilent
        expr: time() - max by (topic) (newest_record_timestamp_seconds) > 30
      - alert: Lagging
        expr: consumer_lag > 100
        for: 20s
"""


class Outbox:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def __call__(self, alerts: list[Alert]) -> None:
        self.alerts.extend(alerts)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


def manager(tmp_path: Path, store: Store, clock: FakeClock, outbox: Outbox) -> RuleManager:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    made = RuleManager(
        store=store, clock=clock, notify=outbox, evaluation_interval_s=60, external_labels={}, external_url=""
    )
    made.load([str(rules)])
    return made


def write(store: Store, clock: FakeClock, name: str, value: float, **labels: str) -> None:
    store.write(f"test:{name}", [Sample(name, labels_of(labels), value)], int(clock.time() * 1000))


@pytest.mark.parametrize(
    ("expr", "found"),
    [
        ("time() - max(newest) > 300", ("max(newest{})", 300.0)),
        ("(time() - newest) >= 5", ("newest{}", 5.0)),
        ("time() - newest > bool 5", None),
        ("newest > 5", None),
        ("time() + newest > 5", None),
        ("time() - newest > other", None),
    ],
)
def test_only_the_staleness_shape_is_recognised(expr: str, found: tuple[str, float] | None) -> None:
    shape = time_threshold(parse_expr(expr))

    assert found == (None if shape is None else (str(shape[0]), shape[1]))


def test_a_staleness_rule_is_evaluated_when_its_threshold_is_crossed(tmp_path: Path, clock: FakeClock) -> None:
    store, outbox = Store(), Outbox()
    write(store, clock, "newest_record_timestamp_seconds", clock.time() - 10, topic="orders")
    rules = manager(tmp_path, store, clock, outbox)

    wait_s = rules.evaluate_due()  # 10 s old now: silent for 30 s in 20 s, not at the next tick in 60
    clock.advance(wait_s)
    write(store, clock, "newest_record_timestamp_seconds", clock.time() - 30.002, topic="orders")
    rules.evaluate_due()

    assert (pytest.approx(20.002), ["TopicSilent"]) == (wait_s, [a.name for a in outbox.alerts])


def test_a_pending_alert_is_evaluated_when_its_for_runs_out(tmp_path: Path, clock: FakeClock) -> None:
    store, outbox = Store(), Outbox()
    write(store, clock, "consumer_lag", 500, group="billing")
    rules = manager(tmp_path, store, clock, outbox)
    rules.evaluate_due()  # pending

    clock.advance(10)
    write(store, clock, "consumer_lag", 500, group="billing")
    wait_s = rules.evaluate_due()
    clock.advance(wait_s)
    write(store, clock, "consumer_lag", 500, group="billing")
    rules.evaluate_due()

    assert (pytest.approx(10.0), [AlertState.FIRING]) == (wait_s, [a.state for a in outbox.alerts])
