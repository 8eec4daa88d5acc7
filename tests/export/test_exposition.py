import math

from prometheus_client.parser import text_string_to_metric_families

from agent.export import Exposition
from agent.export.exposition import format_value
from agent.model import MetricMeta, MetricType, Sample, counter, gauge, labels_of
from agent.store import Store


def render(store: Store) -> str:
    return Exposition(store).render().decode()


def test_families_have_help_and_type_and_sorted_names() -> None:
    store = Store()
    store.declare([gauge("b_bytes", "B."), counter("a_total", "A.")])
    store.write("s", [Sample("b_bytes", (), 1), Sample("a_total", labels_of(x="1"), 2)], 1000)
    assert render(store) == (
        '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n'
        "# HELP b_bytes B.\n# TYPE b_bytes gauge\nb_bytes 1\n"
    )


def test_label_values_and_help_are_escaped_and_parse_back() -> None:
    store = Store()
    store.declare([gauge("g", "help with \\ and\nnewline")])
    tricky = 'a "quoted" \\ back\nslash'
    store.write("s", [Sample("g", labels_of(v=tricky), 1.5)], 1000)
    families = list(text_string_to_metric_families(render(store)))
    assert families[0].documentation == "help with \\ and\nnewline"
    assert families[0].samples[0].labels == {"v": tricky}
    assert families[0].samples[0].value == 1.5


def test_stale_series_are_not_exposed() -> None:
    store = Store()
    store.write("s", [Sample("g", labels_of(a="1"), 1), Sample("g", labels_of(a="2"), 1)], 1000)
    store.write("s", [Sample("g", labels_of(a="1"), 1)], 2000)
    assert 'a="2"' not in render(store)


def test_a_changed_value_is_rendered_anew_and_an_unchanged_one_reused() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample("g", labels_of(a="1"), 1), Sample("g", labels_of(a="2"), 5)], 1000)
    exposition.render()
    store.write("s", [Sample("g", labels_of(a="1"), 2), Sample("g", labels_of(a="2"), 5)], 2000)
    text = exposition.render().decode()
    assert 'g{a="1"} 2\n' in text
    assert 'g{a="2"} 5\n' in text


def test_histogram_samples_are_grouped_under_their_family() -> None:
    store = Store()
    store.declare([MetricMeta("lat_seconds", MetricType.HISTOGRAM, "Latency.")])
    store.write(
        "s",
        [
            Sample("lat_seconds_bucket", labels_of(le="+Inf"), 3),
            Sample("lat_seconds_count", (), 3),
            Sample("lat_seconds_sum", (), 1.5),
        ],
        1000,
    )
    families = list(text_string_to_metric_families(render(store)))
    assert [(f.name, f.type, len(f.samples)) for f in families] == [("lat_seconds", "histogram", 3)]


def test_values_are_written_as_go_writes_them() -> None:
    assert [format_value(v) for v in (1.0, 0.25, math.inf, -math.inf, math.nan, 1e20)] == [
        "1",
        "0.25",
        "+Inf",
        "-Inf",
        "NaN",
        "1e+20",
    ]
