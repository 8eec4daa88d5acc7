from agent.model import Sample, labels_of
from agent.steps import run_through
from agent.store import STALE_NAN, Store, is_stale

A = labels_of(job="a")
B = labels_of(job="b")


def test_series_missing_from_the_next_write_of_its_source_is_marked_stale() -> None:
    store = Store()
    store.write("src", [Sample("up", A, 1), Sample("up", B, 1)], 1000)
    store.write("src", [Sample("up", A, 1)], 2000)
    series_b = store.get("up", B)
    assert series_b is not None
    assert series_b.latest() is None
    assert series_b.at(2000) is None
    assert series_b.at(1500) == (1000, 1.0)


def test_other_sources_do_not_mark_each_others_series_stale() -> None:
    store = Store()
    store.write("one", [Sample("up", A, 1)], 1000)
    store.write("two", [Sample("up", B, 1)], 2000)
    series_a = store.get("up", A)
    assert series_a is not None
    assert series_a.latest() == 1.0


def test_series_cap_refuses_new_series_and_counts_them() -> None:
    store = Store(max_series=1)
    result = store.write("src", [Sample("up", A, 1), Sample("up", B, 1)], 1000)
    assert (store.series_count, result.refused, store.refused_total) == (1, 1, 1)


def test_existing_series_keep_accepting_points_at_the_cap() -> None:
    store = Store(max_series=1)
    store.write("src", [Sample("up", A, 1)], 1000)
    result = store.write("src", [Sample("up", A, 2)], 2000)
    assert result.refused == 0
    assert store.get("up", A) is not None


def test_write_reports_only_names_whose_value_changed() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("y", A, 1)], 1000)
    result = store.write("src", [Sample("x", A, 1), Sample("y", A, 2)], 2000)
    assert result.changed_names == frozenset({"y"})


def test_window_is_left_open_right_closed_and_skips_stale_markers() -> None:
    store = Store()
    for t, v in [(1000, 1.0), (2000, 2.0), (3000, STALE_NAN), (4000, 4.0)]:
        store.append_point("x", A, t, v)
    series = store.get("x", A)
    assert series is not None
    times, values = series.window(1000, 4000)
    assert (list(times), list(values)) == ([2000, 4000], [2.0, 4.0])


def test_lookback_hides_points_older_than_five_minutes() -> None:
    store = Store()
    store.append_point("x", A, 0, 1.0)
    series = store.get("x", A)
    assert series is not None
    assert series.at(299_999) == (0, 1.0)
    assert series.at(300_000) is None


def test_out_of_order_points_are_dropped() -> None:
    store = Store()
    store.append_point("x", A, 2000, 2.0)
    store.append_point("x", A, 1000, 1.0)
    series = store.get("x", A)
    assert series is not None
    assert list(series.times) == [2000]


def test_compact_drops_old_points_and_series_that_went_stale_long_ago() -> None:
    store = Store(retention_ms=10_000)
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
    store.write("src", [Sample("x", A, 1)], 2000)  # B goes stale at 2000
    store.write("src", [Sample("x", A, 1)], 30_000)
    store.compact(30_000)
    series_a = store.get("x", A)
    assert series_a is not None
    assert list(series_a.times) == [30_000]
    assert store.get("x", B) is None
    assert store.series_count == 1


def test_stale_marker_is_not_an_ordinary_nan() -> None:
    assert is_stale(STALE_NAN)
    assert not is_stale(float("nan"))
    assert not is_stale(1.0)


def test_a_write_in_steps_pauses_between_steps_and_ends_like_a_write() -> None:
    store = Store()
    store.write("src", [Sample("x", labels_of(i=str(i)), 0.0) for i in range(5)], 1000)
    steps = store.write_in_steps("src", [Sample("x", labels_of(i=str(i)), 1.0) for i in range(4)], 2000, step=2)
    next(steps)
    halfway = sorted(s.latest() for s in store.family("x") if s.latest() is not None)
    result = run_through(steps)
    assert halfway == [0.0, 0.0, 0.0, 1.0, 1.0]  # a reader between steps sees part of the new collection
    assert result is not None and result.changed_names == frozenset({"x"})
    assert sorted(str(s.latest()) for s in store.family("x")) == ["1.0", "1.0", "1.0", "1.0", "None"]


def test_a_write_counts_the_series_it_added_not_those_another_write_added_between_its_steps() -> None:
    store = Store()
    first = [Sample("a", labels_of(i=str(i)), 1) for i in range(4)]
    steps = store.write_in_steps("s", [*first, Sample("a", labels_of(i="new"), 1)], 1000, step=2)
    next(steps)
    store.write("other", [Sample("b", (), 1), Sample("c", (), 1)], 1000)  # served between two steps
    result = run_through(steps)

    assert (5, 0) == (result.added, store.write("s", first, 2000).added)


def test_series_of_one_write_with_equal_labels_share_one_label_set() -> None:
    """A collector's label sets arrive as new tuples whose pairs are not the store's own: the series
    of every family with the same labels still get one tuple (Kafka: one per partition, not per series)."""
    store = Store()
    store.write("other", [Sample("up", labels_of(cluster="c"), 1)], 1000)  # ("cluster", "c") known first
    samples = [Sample(name, labels_of(cluster="c", partition=str(p)), p) for name in ("a", "b", "d") for p in range(3)]
    store.write("kafka", samples, 1000)
    for p in range(3):
        sets = {
            id(next(s for s in store.family(name) if dict(s.labels)["partition"] == str(p)).labels) for name in "abd"
        }
        assert len(sets) == 1
    assert store._made == {}  # nothing held after the write
