"""The store's compact representation: shared timelines, gap markers, integer values, constant runs.

Each test checks what a reader sees (window, at, latest, points), never the layout itself,
except where the layout is the point (a constant series keeps its value once).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from agent.model import Sample, labels_of
from agent.store import STALE_NAN, Store, is_stale
from agent.store.series import GAP_NAN, Series
from agent.store.wal import Wal

A = labels_of(p="a")
B = labels_of(p="b")


def series_of(store: Store, labels: tuple[tuple[str, str], ...] = A, name: str = "x") -> Series:
    series = store.get(name, labels)
    assert series is not None
    return series


def listed(series: Series) -> list[tuple[int, float | str]]:
    return [(t, "stale" if is_stale(v) else v) for t, v in zip(series.times, series.values, strict=True)]


def test_a_series_missing_from_collections_of_its_source_has_no_points_there() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
    store.write("src", [Sample("x", B, 2)], 2000)  # A goes stale
    store.write("src", [Sample("x", B, 3)], 3000)  # A is absent: a gap on the shared timeline
    store.write("src", [Sample("x", A, 4), Sample("x", B, 4)], 4000)
    series = series_of(store)
    assert listed(series) == [(1000, 1.0), (2000, "stale"), (4000, 4.0)]
    times, values = series.window(0, 4000)
    assert (list(times), list(values)) == ([1000, 4000], [1.0, 4.0])


def test_at_looks_past_a_gap_to_the_point_before_it() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
    store.restore_owner("src", [series_of(store, B)])  # A is no longer the source's: no staleness marker
    store.write("src", [Sample("x", B, 2)], 2000)
    store.write("src", [Sample("x", A, 3), Sample("x", B, 3)], 3000)
    series = series_of(store)
    assert series.at(2500) == (1000, 1.0)
    assert series.at(3000) == (3000, 3.0)
    assert listed(series) == [(1000, 1.0), (3000, 3.0)]


def test_a_gap_marker_written_as_a_value_is_not_confused_with_an_ordinary_nan() -> None:
    store = Store()
    store.write("src", [Sample("x", A, math.nan)], 1000)
    series = series_of(store)
    latest = series.latest()
    assert latest is not None and math.isnan(latest)
    times, values = series.window(0, 1000)
    assert list(times) == [1000] and math.isnan(values[0])
    assert not is_stale(GAP_NAN)


def test_a_constant_series_keeps_its_value_once_until_it_changes() -> None:
    store = Store()
    for i in range(5):
        store.write("src", [Sample("x", A, 7)], 1000 * (i + 1))
    series = series_of(store)
    assert (series.run, len(series._values)) == (5, 1)
    store.write("src", [Sample("x", A, 8)], 6000)
    assert series.run == 0
    assert listed(series) == [(1000 * (i + 1), 7.0) for i in range(5)] + [(6000, 8.0)]
    assert series.at(5500) == (5000, 7.0)


def test_constant_series_of_a_small_integer_share_one_array_that_no_change_reaches() -> None:
    """Every way a run ends (a new value, an overwrite, a gap, staleness, a trim) leaves the others' value alone."""
    store = Store(retention_ms=2500)
    labels = [labels_of(p=str(i)) for i in range(6)]
    store.write("src", [Sample("x", one, 1) for one in labels], 1000)
    store.write("src", [Sample("x", one, 1) for one in labels], 2000)
    series = [series_of(store, one) for one in labels]
    assert len({id(s._values) for s in series}) == 1  # one array for all six
    store.write("src", [Sample("x", labels[0], 2), *(Sample("x", one, 1) for one in labels[1:4])], 3000)
    store.write("src", [Sample("x", labels[0], 2), Sample("x", labels[1], 2.5), Sample("x", labels[2], 1)], 3000)
    store.write("src", [Sample("x", labels[2], 5), Sample("x", labels[3], 1)], 4000)
    store.compact(5000)
    assert listed(series[3]) == [(3000, "stale"), (4000, 1.0)]  # left out of the second write at 3000
    assert listed(series[0]) == [(3000, 2.0), (4000, "stale")]
    assert listed(series[1]) == [(3000, 2.5), (4000, "stale")]
    assert listed(series[2]) == [(3000, 1.0), (4000, 5.0)]
    assert listed(series[4]) == listed(series[5]) == [(3000, "stale")]
    fresh = Store()
    fresh.write("src", [Sample("x", A, 1)], 1000)
    assert listed(series_of(fresh)) == [(1000, 1.0)]


def test_a_constant_run_keeps_zero_and_minus_zero_apart() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 0.0)], 1000)
    store.write("src", [Sample("x", A, -0.0)], 2000)
    values = series_of(store).values
    assert [math.copysign(1.0, v) for v in values] == [1.0, -1.0]


def test_a_constant_run_overwritten_at_its_newest_time_keeps_the_new_value() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1)], 1000)
    store.write("src", [Sample("x", A, 1)], 2000)
    store.write("src", [Sample("x", A, 2)], 2000)
    assert listed(series_of(store)) == [(1000, 1.0), (2000, 2.0)]


def test_values_that_are_not_32_bit_integers_switch_the_series_to_doubles() -> None:
    store = Store()
    written = [1.0, 2.0, 2**40, 2.5, STALE_NAN, -3.0]
    for i, value in enumerate(written):
        store.write("src", [Sample("x", A, value)], 1000 * (i + 1))
    assert listed(series_of(store)) == [(1000 * (i + 1), v) for i, v in enumerate([1.0, 2.0, 2.0**40, 2.5])] + [
        (5000, "stale"),
        (6000, -3.0),
    ]


def test_integer_values_keep_their_staleness_markers() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
    store.write("src", [Sample("x", B, 2)], 2000)
    series = series_of(store)
    assert series._values.typecode == "i"
    assert series.latest() is None and series.at(2000) is None
    assert listed(series) == [(1000, 1.0), (2000, "stale")]


def test_compaction_trims_the_shared_timeline_and_folds_a_series_that_became_constant() -> None:
    store = Store(retention_ms=3000)
    for i, value in enumerate([5, 1, 1, 1, 1]):
        store.write("src", [Sample("x", A, value), Sample("x", B, i)], 1000 * (i + 1))
    store.compact(5000)
    series = series_of(store)
    assert listed(series) == [(2000, 1.0), (3000, 1.0), (4000, 1.0), (5000, 1.0)]
    assert series.run == 4
    times, values = series_of(store, B).window(0, 5000)
    assert (list(series_of(store, B).times), list(series_of(store, B).values)) == (list(times), list(values))
    assert list(series_of(store, B).times) == [2000, 3000, 4000, 5000]


def test_a_point_between_times_of_a_shared_timeline_moves_the_series_to_its_own() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
    store.restore_owner("src", [series_of(store, B)])
    store.write("src", [Sample("x", B, 2)], 3000)
    store.append_point("x", A, 2000, 9.0)  # between 1000 and 3000 of the source's timeline
    store.write("src", [Sample("x", A, 4), Sample("x", B, 4)], 4000)
    assert listed(series_of(store)) == [(1000, 1.0), (2000, 9.0), (4000, 4.0)]
    assert series_of(store).timeline is not series_of(store, B).timeline
    assert listed(series_of(store, B)) == [(1000, 1.0), (3000, 2.0), (4000, 4.0)]


def test_a_write_older_than_the_sources_last_keeps_the_per_series_rules() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
    store.restore_owner("src", [series_of(store, B)])
    store.write("src", [Sample("x", B, 2)], 3000)
    store.write("src", [Sample("x", A, 3), Sample("x", B, 3)], 2000)  # the clock stepped back
    assert listed(series_of(store)) == [(1000, 1.0), (2000, 3.0)]  # A had nothing at or after 2000
    assert listed(series_of(store, B)) == [(1000, 1.0), (3000, 2.0)]  # B's 2000 is out of order


def test_staleness_after_a_missed_collection_and_a_return_reads_as_before() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
    store.write("src", [Sample("x", B, 1)], 2000)
    store.write("src", [Sample("x", B, 1)], 3000)
    store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 4000)
    store.write("src", [Sample("x", B, 1)], 5000)
    assert listed(series_of(store)) == [(1000, 1.0), (2000, "stale"), (4000, 1.0), (5000, "stale")]
    assert series_of(store).at(3500) is None
    assert series_of(store).at(4500) == (4000, 1.0)


def test_replay_shares_one_timeline_and_the_next_write_extends_it(tmp_path: Path) -> None:
    async def run() -> None:
        store = Store(retention_ms=3_600_000)
        wal = Wal(tmp_path)
        wal.attach(store)
        for i in range(3):
            store.write("src", [Sample("x", A, i), Sample("x", B, 2.5)], 1000 * (i + 1))
        await wal.close(store, 3000)

    asyncio.run(run())
    store = Store(retention_ms=3_600_000)
    Wal(tmp_path).replay_into(store)
    assert series_of(store).timeline is series_of(store, B).timeline
    store.write("src", [Sample("x", A, 3), Sample("x", B, 2.5)], 4000)
    assert series_of(store).timeline is series_of(store, B).timeline
    assert listed(series_of(store)) == [(1000, 0.0), (2000, 1.0), (3000, 2.0), (4000, 3.0)]
    assert listed(series_of(store, B)) == [(t, 2.5) for t in (1000, 2000, 3000, 4000)]
    store.compact(4000)  # replayed doubles narrowed to integers where they are
    assert (series_of(store)._values.typecode, series_of(store, B)._values.typecode) == ("i", "d")
    assert listed(series_of(store)) == [(1000, 0.0), (2000, 1.0), (3000, 2.0), (4000, 3.0)]


def test_replay_of_segments_after_a_checkpoint_appends_to_the_checkpointed_series(tmp_path: Path) -> None:
    async def run() -> None:
        store = Store(retention_ms=3_600_000)
        wal = Wal(tmp_path)
        wal.attach(store)
        store.write("src", [Sample("x", A, 1), Sample("x", B, 1)], 1000)
        await wal.checkpoint(store, 1000)
        store.write("src", [Sample("x", B, 2)], 2000)  # A goes stale
        store.write("src", [Sample("x", A, 3), Sample("x", B, 3)], 3000)
        await store.sync()
        assert wal._thread is not None
        await wal._thread.stop()  # kill -9: no checkpoint at the end

    asyncio.run(run())
    store = Store(retention_ms=3_600_000)
    Wal(tmp_path).replay_into(store)
    assert listed(series_of(store)) == [(1000, 1.0), (2000, "stale"), (3000, 3.0)]
    assert listed(series_of(store, B)) == [(1000, 1.0), (2000, 2.0), (3000, 3.0)]
    store.write("src", [Sample("x", B, 4)], 4000)
    assert listed(series_of(store)) == [(1000, 1.0), (2000, "stale"), (3000, 3.0), (4000, "stale")]


def test_a_series_written_twice_in_one_write_is_owned_once_and_keeps_the_last_value() -> None:
    store = Store()
    store.write("src", [Sample("x", A, 1), Sample("x", A, 2), Sample("x", B, 1)], 1000)
    assert [s.labels for s in store.owners()[0][1]] == [A, B]
    store.write("src", [Sample("x", B, 1)], 2000)
    assert listed(series_of(store)) == [(1000, 2.0), (2000, "stale")]


def test_series_of_different_families_share_equal_label_pairs() -> None:
    store = Store()
    store.write("src", [Sample("x", labels_of(p="a", t="t1"), 1), Sample("y", labels_of(p="a", t="t1"), 1)], 1000)
    store.write("src", [Sample("x", labels_of(p="a", t="t1"), 1), Sample("y", labels_of(p="a", t="t1"), 1)], 2000)
    x, y = series_of(store, labels_of(p="a", t="t1")), series_of(store, labels_of(p="a", t="t1"), "y")
    assert all(a is b for a, b in zip(x.labels, y.labels, strict=True))
    assert store.get("y", labels_of(p="a", t="t1")) is y


def test_shared_label_pairs_of_expired_series_are_let_go() -> None:
    store = Store(retention_ms=1000)
    store.write("src", [Sample("x", labels_of(i=str(i)), 1) for i in range(1500)], 1000)
    store.write("src", [], 2000)  # every series goes stale
    store.compact(10_000)
    assert (store.series_count, len(store._pairs)) == (0, 0)
