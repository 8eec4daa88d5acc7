"""A collector in a supervised child process: its samples, its crashes, hangs and restarts.

The hosted collector (tests/collect/hosted_fakes.py) runs in a real child process and does
what a script file says, so a child can be made to abort, segfault or hang at will.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.clock import FakeClock
from agent.collect.base import PartialCollectionError
from agent.collect.isolated import Backoff, IsolatedCollector, IsolatedError, answer_timeout
from agent.collect.isolation_wire import Hosted
from agent.model import Sample
from tests.collect.hosted_fakes import FAKE_METRICS

ANSWER_TIMEOUT = 10.0


class Child:
    """An isolated ScriptedCollector and the file that tells it what to do."""

    def __init__(self, tmp_path: Path, backoff: Backoff, answer: float = ANSWER_TIMEOUT) -> None:
        self.script = tmp_path / "action"
        self.act("ok")
        self.clock = FakeClock()
        hosted = Hosted(
            "tests.collect.hosted_fakes:ScriptedCollector",
            "fake",
            "one",
            FAKE_METRICS,
            args=(str(self.script),),
            seeded_from=("fake_history",),
        )
        self.collector = IsolatedCollector(hosted, self.clock, answer_timeout=answer, backoff=backoff)

    def act(self, action: str) -> None:
        self.script.write_text(action)

    def pid(self) -> int:
        return int(_value(self.collector.collect(), "fake_child_pid"))


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Child]:
    made = Child(tmp_path, Backoff(initial=0.0))
    yield made
    made.collector.close()


def _value(samples: Sequence[Sample], name: str) -> float:
    (value,) = [s.value for s in samples if s.name == name]
    return value


def test_samples_come_from_a_child_process(child: Child) -> None:
    assert child.pid() != os.getpid()


def test_the_child_lives_on_from_run_to_run(child: Child) -> None:
    assert child.pid() == child.pid()


def test_name_instance_and_metrics_are_the_hosted_collectors(child: Child) -> None:
    collector = child.collector
    assert ("fake", "one", FAKE_METRICS) == (collector.name, collector.instance, tuple(collector.metrics()))


@pytest.mark.parametrize(("action", "signal_name"), [("abort", "SIGABRT"), ("segfault", "SIGSEGV")])
def test_a_child_killed_by_a_signal_fails_the_run_and_logs_the_signal(
    child: Child, action: str, signal_name: str
) -> None:
    pid = child.pid()
    child.act(action)
    with capture_logs() as logs, pytest.raises(IsolatedError, match=f"signal {signal_name}"):
        child.collector.collect()

    assert [("collector_process_exited", signal_name, pid)] == [
        (e["event"], e.get("signal"), e["pid"]) for e in logs if e["event"].startswith("collector_process")
    ]


def test_a_child_that_exits_is_reported_with_its_exit_code(child: Child) -> None:
    child.pid()
    child.act("exit")

    with pytest.raises(IsolatedError, match="exit_code 3"):
        child.collector.collect()


def test_a_lost_child_is_replaced_at_the_next_run_and_counted(child: Child) -> None:
    first = child.pid()
    child.act("abort")
    with pytest.raises(IsolatedError):
        child.collector.collect()
    child.act("ok")

    second = child.pid()

    assert (True, 1) == (second != first, child.collector.restarts_total)


def test_a_child_that_stops_answering_is_killed(tmp_path: Path) -> None:
    child = Child(tmp_path, Backoff(initial=0.0), answer=1.0)
    pid = child.pid()
    child.act("hang")

    with capture_logs() as logs, pytest.raises(IsolatedError, match="stopped answering"):
        child.collector.collect()
    child.act("ok")

    assert "collector_process_unresponsive" in [e["event"] for e in logs]
    assert not Path(f"/proc/{pid}").exists()
    assert child.pid() != pid
    child.collector.close()


def test_restarts_wait_out_a_doubling_backoff(tmp_path: Path) -> None:
    child = Child(tmp_path, Backoff(initial=10.0, maximum=60.0))
    child.act("abort")
    with pytest.raises(IsolatedError):
        child.collector.collect()
    child.act("ok")

    with pytest.raises(IsolatedError, match="SIGABRT"):
        child.collector.collect()  # still within the 10 s backoff: no new child
    child.clock.advance(10.0)
    child.pid()

    assert 1 == child.collector.restarts_total
    child.collector.close()


def test_backoff_doubles_up_to_its_maximum() -> None:
    backoff = Backoff(initial=1.0, maximum=60.0)

    assert [1.0, 2.0, 4.0, 8.0, 60.0] == [backoff.delay(n) for n in (1, 2, 3, 4, 10)]


def test_a_successful_run_resets_the_backoff(tmp_path: Path) -> None:
    child = Child(tmp_path, Backoff(initial=10.0))
    for _ in range(2):
        child.act("abort")
        with pytest.raises(IsolatedError):
            child.collector.collect()
        child.clock.advance(20.0)
        child.act("ok")
        child.pid()

    assert 2 == child.collector.restarts_total  # the second loss waited 10 s again, not 20 s
    child.collector.close()


def test_a_partial_run_keeps_its_samples(child: Child) -> None:
    child.act("partial")

    with pytest.raises(PartialCollectionError, match="requests failed: describe_groups") as partial:
        child.collector.collect()

    assert _value(partial.value.samples, "fake_child_pid") > 0


def test_an_exception_in_the_child_fails_the_run_but_keeps_the_child(child: Child) -> None:
    pid = child.pid()
    child.act("raise")
    with pytest.raises(IsolatedError, match="ValueError: boom"):
        child.collector.collect()
    child.act("ok")

    assert pid == child.pid()


def test_seeded_history_reaches_the_child_before_its_first_run(child: Child) -> None:
    history = {"fake_history": [((("a", "1"),), [1000, 2000], [1.0, 2.0])], "other": [((), [1], [1.0])]}

    child.collector.seed(lambda name: history.get(name, []))

    assert 2.0 == _value(child.collector.collect(), "fake_seeded_points")


def test_a_replacement_child_is_seeded_from_the_history_as_it_is_when_it_starts(child: Child) -> None:
    points = {"fake_history": [((("a", "1"),), [1000, 2000], [1.0, 2.0])]}
    child.collector.seed(lambda name: points.get(name, []))
    child.collector.collect()
    points["fake_history"].append(((("a", "2"),), [3000], [3.0]))  # stored meanwhile by the daemon
    child.act("abort")
    with pytest.raises(IsolatedError):
        child.collector.collect()
    child.act("ok")

    assert 3.0 == _value(child.collector.collect(), "fake_seeded_points")


def test_a_history_that_cannot_be_read_leaves_the_child_unseeded_and_says_so(child: Child) -> None:
    def unreadable(name: str) -> list[tuple[tuple[tuple[str, str], ...], list[int], list[float]]]:
        raise TimeoutError

    child.collector.seed(unreadable)
    with capture_logs() as logs:
        seeded = _value(child.collector.collect(), "fake_seeded_points")

    assert (0.0, ["collector_seed_failed"]) == (seeded, [e["event"] for e in logs])


def test_close_ends_the_child(child: Child) -> None:
    pid = child.pid()

    child.collector.close()

    assert not Path(f"/proc/{pid}").exists()


def test_a_hung_child_is_given_twice_the_run_timeout_and_at_least_five_seconds_more() -> None:
    assert (6.0, 20.0) == (answer_timeout(1.0), answer_timeout(10.0))


def test_the_daemon_side_of_an_isolated_kafka_collector_does_not_load_confluent_kafka() -> None:
    script = (
        "import sys\n"
        "from agent.clock import SystemClock\n"
        "from agent.collect.registry import build_collectors\n"
        "from agent.config.schema import Config, KafkaConfig\n"
        "config = Config()\n"
        "config.collectors.kafka.append(KafkaConfig(name='main', bootstrap_servers='127.0.0.1:1'))\n"
        "jobs = build_collectors(config, SystemClock())\n"
        "print(sorted(j.collector.name for j in jobs), 'confluent_kafka' in sys.modules)\n"
    )

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout

    assert "['host', 'kafka', 'process'] False" == out.strip()
