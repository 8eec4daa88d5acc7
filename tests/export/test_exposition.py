import asyncio
import gc
import gzip
import math
import random

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


# -- the cached rendering (issue 22) ------------------------------------------------


def fresh(store: Store) -> bytes:
    """What a new exposition, with nothing cached, renders for the store now."""
    return Exposition(store).render()


def test_nothing_changed_serves_the_same_gzip_body_object() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample("g", labels_of(a="1"), 1)], 1000)
    first = asyncio.run(exposition.body(gzipped=True))
    store.write("s", [Sample("g", labels_of(a="1"), 1)], 2000)  # same value, later: nothing to show
    assert asyncio.run(exposition.body(gzipped=True)) is first
    store.write("s", [Sample("g", labels_of(a="1"), 2)], 3000)
    assert gzip.decompress(asyncio.run(exposition.body(gzipped=True))) == b'# TYPE g untyped\ng{a="1"} 2\n'


def test_an_unchanged_family_keeps_its_compressed_part_and_a_changed_one_is_compressed_again() -> None:
    store = Store()
    store.declare([gauge("a", "A."), gauge("b", "B.")])
    exposition = Exposition(store)
    store.write("s", [Sample("a", (), 1), Sample("b", (), 1)], 1000)
    exposition.render()
    kept_a, kept_b = (exposition._placed[name].part for name in "ab")
    store.write("s", [Sample("a", (), 1), Sample("b", (), 2)], 2000)
    exposition.render()
    assert exposition._placed["a"].part is kept_a
    assert exposition._placed["b"].part is not kept_b


def test_a_changed_value_invalidates_its_family_only() -> None:
    store = Store()
    store.declare([gauge("a", "A."), gauge("b", "B.")])
    exposition = Exposition(store)
    store.write("s", [Sample("a", (), 1), Sample("b", (), 1)], 1000)
    exposition.render()
    store.write("s", [Sample("a", (), 1), Sample("b", (), 2)], 2000)
    assert exposition.render() == b"# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 2\n"


def test_a_series_gone_stale_disappears_and_its_family_with_it() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample("g", labels_of(a="1"), 1), Sample("g", labels_of(a="2"), 1)], 1000)
    store.write("t", [Sample("h", (), 1)], 1000)
    exposition.render()
    store.write("s", [Sample("g", labels_of(a="1"), 1)], 2000)
    assert exposition.render() == b'# TYPE g untyped\ng{a="1"} 1\n# TYPE h untyped\nh 1\n'
    store.write("s", [], 3000)
    assert exposition.render() == b"# TYPE h untyped\nh 1\n"


def test_a_family_that_appears_is_rendered_in_its_place() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample("a", (), 1), Sample("c", (), 3)], 1000)
    exposition.render()
    store.write("t", [Sample("b", (), 2)], 2000)
    assert exposition.render() == b"# TYPE a untyped\na 1\n# TYPE b untyped\nb 2\n# TYPE c untyped\nc 3\n"


def test_a_family_dropped_by_compaction_disappears() -> None:
    store = Store(retention_ms=10_000)
    exposition = Exposition(store)
    store.write("old", [Sample("a", (), 1)], 1000)  # its source never writes again: no staleness marker
    store.write("new", [Sample("b", (), 2)], 1000)
    exposition.render()
    store.write("new", [Sample("b", (), 2)], 20_000)
    store.compact(20_000)
    assert exposition.render() == b"# TYPE b untyped\nb 2\n"


def test_a_declaration_after_the_first_render_changes_the_header() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample("g", (), 1)], 1000)
    exposition.render()
    store.declare([gauge("g", "Late help.")])
    assert exposition.render() == b"# HELP g Late help.\n# TYPE g gauge\ng 1\n"


def test_a_scrape_during_a_long_write_sees_each_family_as_of_one_write() -> None:
    """A scrape between two steps of a 12,000-sample write; the family shows the old values, then the new."""
    store = Store()
    exposition = Exposition(store)

    def collection(value: float) -> list[Sample]:
        return [Sample("g", labels_of(i=str(i)), value) for i in range(12_000)]

    def values() -> set[str]:
        return {line.rsplit(" ", 1)[1] for line in exposition.render().decode().splitlines()[1:]}

    store.write("s", collection(1), 1000)
    assert values() == {"1"}
    steps = store.write_in_steps("s", collection(2), 2000, step=5000)
    next(steps)  # 5,000 of 12,000 written
    assert store.family("g") and {s.latest() for s in store.family("g")} == {1.0, 2.0}
    assert values() == {"1"}
    for _ in steps:
        pass
    assert values() == {"2"}
    store.write("s", collection(3), 3000)  # done, and not scraped before the next write starts
    steps = store.write_in_steps("s", collection(4), 4000, step=5000)
    next(steps)
    assert values() == {"2"}  # still one write's values: the last rendered ones
    for _ in steps:
        pass
    assert values() == {"4"}


def test_the_cached_rendering_equals_a_fresh_one_through_many_writes() -> None:
    """Random writes, staleness, new families, histograms and compaction; after each, cached == fresh."""
    rng = random.Random(22)
    store = Store(retention_ms=5000)
    store.declare([MetricMeta("h_seconds", MetricType.HISTOGRAM, "H."), counter("c_total", "C.")])
    exposition = Exposition(store)
    names = ["c_total", "g", "h_seconds_bucket", "h_seconds_sum", "h_seconds_count", "z"]
    for step in range(1, 200):
        source = rng.choice("abc")
        samples = [
            Sample(name, labels_of(k=str(rng.randrange(4))), float(rng.randrange(3)))
            for name in rng.sample(names, rng.randrange(len(names)))
        ]
        if rng.random() < 0.1:
            store.declare([gauge(f"late_{step}", "Late.")])
            samples.append(Sample(f"late_{step}", (), 1))
        store.write(source, {(s.name, s.labels): s for s in samples}.values(), step * 1000)
        if rng.random() < 0.2:
            store.compact(step * 1000)
        assert exposition.render() == fresh(store), f"step {step}"


def test_gzip_is_the_plain_body_compressed_once_per_change() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample("g", labels_of(i=str(i)), i) for i in range(1000)], 1000)

    async def scrape() -> tuple[bytes, bytes, bytes]:
        return await exposition.body(), await exposition.body(gzipped=True), await exposition.body(gzipped=True)

    plain, zipped, again = asyncio.run(scrape())
    assert gzip.decompress(zipped) == plain == fresh(store)
    assert again is zipped
    store.write("s", [Sample("g", labels_of(i=str(i)), i + 1) for i in range(1000)], 2000)
    plain, zipped, _ = asyncio.run(scrape())
    assert gzip.decompress(zipped) == plain == fresh(store)
    assert b'g{i="0"} 1\n' in plain


def test_concurrent_scrapes_share_one_rendering() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample(f"g{n}", labels_of(i=str(i)), i) for n in range(10) for i in range(2000)], 1000)

    async def scrapes() -> list[bytes]:
        return await asyncio.gather(*(exposition.body(gzipped=n % 2 == 1) for n in range(20)))

    bodies = asyncio.run(scrapes())
    assert len({id(body) for body in bodies[1::2]}) == len({id(body) for body in bodies[0::2]}) == 1  # each made once
    assert gzip.decompress(bodies[1]) == bodies[0] == fresh(store)


def test_one_value_needing_escapes_among_plain_ones_is_escaped_and_the_others_kept() -> None:
    store = Store()
    values = ["plain", 'a",b="c', "back\\slash", "new\nline"]
    store.write("s", [Sample("g", labels_of(v=v, w="x"), i) for i, v in enumerate(values)], 1000)
    text = render(store)
    assert text.splitlines()[1:3] == ['g{v="plain",w="x"} 0', 'g{v="a\\",b=\\"c",w="x"} 1']
    samples = next(text_string_to_metric_families(text)).samples
    assert [(s.labels, s.value) for s in samples] == [({"v": v, "w": "x"}, i) for i, v in enumerate(values)]


def test_a_histogram_declared_after_its_samples_were_exposed_is_grouped_again() -> None:
    store = Store()
    exposition = Exposition(store)
    store.write("s", [Sample("h_bucket", labels_of(le="+Inf"), 1), Sample("h_count", (), 1)], 1000)
    assert exposition.render().count(b"# TYPE") == 2
    store.declare([MetricMeta("h", MetricType.HISTOGRAM, "H.")])
    assert exposition.render() == b'# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n' == fresh(store)


def test_a_large_rendering_lets_the_event_loop_run_other_tasks_meanwhile() -> None:
    """/metrics over 40,000 new series: a task started after the scrape finishes before it."""
    store = Store()
    store.write("s", [Sample(f"g{n}", labels_of(i=str(i)), i) for n in range(8) for i in range(5000)], 1000)
    exposition = Exposition(store)
    finished: list[str] = []

    async def scrape() -> None:
        await exposition.body()
        finished.append("scrape")

    async def other() -> None:
        finished.append("other")

    async def both() -> None:
        await asyncio.gather(scrape(), other())

    asyncio.run(both())
    assert finished == ["other", "scrape"]


def test_an_exposition_dropped_is_no_longer_told_of_changes() -> None:
    store = Store()
    kept = Exposition(store)
    Exposition(store).render()  # made and dropped, as a one-off render does
    gc.collect()
    assert list(store.watchers) == [kept]


def test_target_labels_and_synthetic_series_are_left_out_textfile_labels_come_back() -> None:
    from agent.targets import SYNTHETIC_METRICS, attach, make_target

    store = Store()
    target = make_target("node", "agent:9842")
    store.declare([gauge("batch_last_success", "B."), *SYNTHETIC_METRICS])
    own = labels_of(instance="db1", job="batch")
    store.write(
        "s", [Sample("batch_last_success", attach(target.labels, own), 5), Sample("up", target.up_labels, 1)], 1000
    )
    exposition = Exposition(store)
    exposition.hide_targets({target.key})

    header = "# HELP batch_last_success B.\n# TYPE batch_last_success gauge\n"
    assert header + 'batch_last_success{instance="db1",job="batch"} 5\n' == exposition.render().decode()
