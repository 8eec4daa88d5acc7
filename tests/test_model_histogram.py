"""The histogram collectors share: Prometheus' cumulative buckets, sum and count."""

from agent.model import Histogram, exponential_buckets, labels_of


def test_exponential_buckets_double_from_the_start_until_they_reach_the_limit() -> None:
    assert (0.005, 0.01, 0.02, 0.04) == exponential_buckets(0.005, 2, 0.03)


def test_observations_count_in_every_bucket_at_or_above_them() -> None:
    histogram = Histogram((0.5, 1.0))
    for value in (0.2, 0.7, 3.0):
        histogram.observe(value)

    samples = {(s.name, dict(s.labels).get("le", "")): s.value for s in histogram.samples("x", labels_of(a="1"))}

    assert {
        ("x_bucket", "0.5"): 1.0,
        ("x_bucket", "1"): 2.0,
        ("x_bucket", "+Inf"): 3.0,
        ("x_sum", ""): 3.9,
        ("x_count", ""): 3.0,
    } == samples
