"""Target labels as Prometheus attaches them to a scrape's samples (honor_labels: false), and taken off again."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from agent.model import Labels, Sample, labels_of
from agent.targets import attach, attacher, default_instance, exposed, make_target

TARGET = make_target("kafka", "agent:9842", labels_of(cluster="main"))
KEYS = {TARGET.key}


def test_a_targets_labels_are_added_to_a_samples_own() -> None:
    assert labels_of(cluster="main", instance="agent:9842", job="kafka", topic="t") == attach(
        TARGET.labels, labels_of(cluster="main", topic="t")
    )


def test_the_target_label_pairs_are_the_targets_own_objects() -> None:
    attached = attach(TARGET.labels, labels_of(topic="t"))
    assert all(any(pair is own for own in TARGET.labels) for pair in attached if pair[0] in ("job", "instance"))


@pytest.mark.parametrize(
    ("own", "stored"),
    [
        (labels_of(job="batch"), labels_of(exported_job="batch", instance="agent:9842", job="kafka")),
        (
            labels_of(instance="db1", job="batch"),
            labels_of(exported_instance="db1", exported_job="batch", instance="agent:9842", job="kafka"),
        ),
        (
            labels_of(exported_job="a", job="b"),
            labels_of(exported_exported_job="b", exported_job="a", instance="agent:9842", job="kafka"),
        ),
    ],
)
def test_a_samples_own_job_or_instance_becomes_exported_and_comes_back_on_metrics(own: Labels, stored: Labels) -> None:
    assert stored == attach(TARGET.labels, own)
    assert own == exposed(stored, KEYS)


def test_a_label_set_of_no_target_is_exposed_as_it_is() -> None:
    rule_result = labels_of(instance="elsewhere:1", job="kafka", topic="t")
    assert rule_result is exposed(rule_result, KEYS)


def test_a_label_set_shared_by_samples_stays_one_object() -> None:
    partition = labels_of(cluster="main", partition="0", topic="t")
    samples = [
        Sample("kafka_topic_partition_current_offset", partition, 1),
        Sample("kafka_topic_partition_leader", partition, 1),
    ]
    attached = attacher(TARGET.labels)
    first, second = (attached(sample.labels) for sample in samples)
    assert first is second


def test_up_tells_collectors_of_one_kind_apart_by_their_extra_labels() -> None:
    assert labels_of(cluster="main", instance="agent:9842", job="kafka") == TARGET.up_labels
    assert ("kafka", "agent:9842") == TARGET.key


def test_the_default_instance_is_the_listen_address_or_the_hostname_for_a_wildcard() -> None:
    assert "127.0.0.1:9842" == default_instance("127.0.0.1:9842")
    assert f"{socket.gethostname()}:9842" == default_instance("0.0.0.0:9842")
    assert f"{socket.gethostname()}:9842" == default_instance(":9842")


def test_label_sets_made_one_after_another_are_not_taken_for_each_other() -> None:
    """A lazy collection whose label sets are freed as it goes (the next may get the same id)."""

    def lazily() -> Iterator[Sample]:
        for i in range(100):
            yield Sample("g", labels_of(partition=str(i)), 1)

    attached = attacher(TARGET.labels)
    partitions = [dict(attached(sample.labels))["partition"] for sample in lazily()]
    assert [str(i) for i in range(100)] == partitions
