"""The textfile collector and its directory watcher, on real temporary directories."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.collect.textfile import TextfileCollector, TextfileError, parse_textfile, watch_directory
from agent.config.schema import TextfileConfig
from agent.model import Labels, MetricMeta, MetricType, Sample, labels_of

FIXTURES = Path(__file__).parent / "fixtures" / "textfile"


def add_fixture(directory: Path, fixture: str, name: str | None = None) -> Path:
    """Copy a fixture file into the textfile directory, under its own name or another."""
    target = directory / (name or fixture)
    shutil.copyfile(FIXTURES / fixture, target)
    return target


def collector(directory: Path) -> TextfileCollector:
    return TextfileCollector(TextfileConfig(directory=str(directory)))


def series(samples: Sequence[Sample], name: str) -> dict[Labels, float]:
    return {s.labels: s.value for s in samples if s.name == name}


def scrape_error(samples: Sequence[Sample]) -> float:
    return series(samples, "node_textfile_scrape_error")[()]


def meta(metas: Sequence[MetricMeta], name: str) -> MetricMeta:
    return next(m for m in metas if m.name == name)


# --- reading files ----------------------------------------------------------------------


def test_good_file_samples_are_returned(tmp_path: Path) -> None:
    add_fixture(tmp_path, "good.prom")

    samples = collector(tmp_path).collect()

    expected = {labels_of(database="orders"): 1.7e9, labels_of(database="users"): 1.6e9}
    assert expected == series(samples, "backup_last_success_timestamp_seconds")
    assert series(samples, "backup_runs_total") == {(): 42.0}


def test_scrape_error_is_zero_when_every_file_reads(tmp_path: Path) -> None:
    add_fixture(tmp_path, "good.prom")

    assert scrape_error(collector(tmp_path).collect()) == 0.0


def test_help_and_type_come_from_the_file(tmp_path: Path) -> None:
    add_fixture(tmp_path, "good.prom")
    textfile = collector(tmp_path)
    textfile.collect()

    metas = textfile.metrics()

    assert MetricMeta("backup_runs_total", MetricType.COUNTER, "Backups run since the host started.") == meta(
        metas, "backup_runs_total"
    )
    assert meta(metas, "backup_last_success_timestamp_seconds").type == MetricType.GAUGE


def test_family_without_help_is_described_by_its_files(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text("queue_depth 3\n")
    (tmp_path / "b.prom").write_text('queue_depth{queue="x"} 4\n')
    textfile = collector(tmp_path)
    textfile.collect()

    expected = f"Metric read from {tmp_path / 'a.prom'}, {tmp_path / 'b.prom'}"
    assert MetricMeta("queue_depth", MetricType.UNTYPED, expected) == meta(textfile.metrics(), "queue_depth")


def test_own_metrics_are_declared_as_gauges(tmp_path: Path) -> None:
    metas = collector(tmp_path).metrics()

    assert meta(metas, "node_textfile_mtime_seconds").type == MetricType.GAUGE
    assert meta(metas, "node_textfile_scrape_error").type == MetricType.GAUGE


def test_label_values_with_escapes_are_unescaped(tmp_path: Path) -> None:
    add_fixture(tmp_path, "escapes.prom")

    samples = collector(tmp_path).collect()

    expected = labels_of(path="C:\\data\\lake", note='say "hi"', lines="one\ntwo")
    assert {expected: 1.0} == series(samples, "quoting_demo")


def test_counter_declared_without_total_keeps_its_name() -> None:
    (family,) = parse_textfile("# TYPE backups counter\nbackups 3\n")

    assert (family.name, [s.name for s in family.samples]) == ("backups", ["backups"])


def test_counter_declared_with_total_keeps_its_name() -> None:
    (family,) = parse_textfile("# TYPE backups_total counter\nbackups_total 3\n")

    assert (family.name, [s.name for s in family.samples]) == ("backups_total", ["backups_total"])


def test_samples_of_a_family_interrupted_by_another_are_joined() -> None:
    families = parse_textfile("# TYPE a gauge\na{x='1'} 1\nb 2\na 3\n".replace("'", '"'))

    assert [(f.name, f.kind, len(f.samples)) for f in families] == [("a", "gauge", 2), ("b", "untyped", 1)]


def test_second_type_line_for_a_family_is_malformed() -> None:
    with pytest.raises(TextfileError, match="second HELP or TYPE line for metric a"):
        parse_textfile("# TYPE a gauge\na 1\nb 2\n# TYPE a gauge\na 3\n")


def test_parse_error_names_the_line() -> None:
    text = (FIXTURES / "malformed.prom").read_text()

    with pytest.raises(TextfileError, match=r"^line 3: "):
        parse_textfile(text)


def test_openmetrics_only_type_is_refused() -> None:
    with pytest.raises(TextfileError, match="unsupported metric type 'info'"):
        parse_textfile("# TYPE build info\nbuild 1\n")


def test_quoted_utf8_metric_name_is_refused() -> None:
    with pytest.raises(TextfileError, match="invalid metric name"):
        parse_textfile('{"pipeline.lag"} 1\n')


def test_histogram_is_declared_once_under_its_family_name(tmp_path: Path) -> None:
    add_fixture(tmp_path, "histogram.prom")
    textfile = collector(tmp_path)
    samples = textfile.collect()

    declared = {m.name: m.type for m in textfile.metrics() if m.name.startswith("etl_")}

    assert {"etl_batch_seconds": MetricType.HISTOGRAM} == declared
    assert {"etl_batch_seconds_bucket", "etl_batch_seconds_sum", "etl_batch_seconds_count"} == {
        s.name for s in samples if s.name.startswith("etl_")
    }


def test_files_not_ending_in_prom_are_ignored(tmp_path: Path) -> None:
    add_fixture(tmp_path, "good.prom", "good.prom.tmp")
    add_fixture(tmp_path, "escapes.prom", "notes.txt")

    samples = collector(tmp_path).collect()

    assert [s.name for s in samples] == ["node_textfile_scrape_error"]


# --- errors -----------------------------------------------------------------------------


def test_malformed_file_is_left_out_and_others_still_count(tmp_path: Path) -> None:
    add_fixture(tmp_path, "good.prom")
    add_fixture(tmp_path, "malformed.prom")

    samples = collector(tmp_path).collect()

    assert series(samples, "backup_runs_total") == {(): 42.0}
    assert series(samples, "broken_metric") == {}
    assert scrape_error(samples) == 1.0


def test_malformed_file_has_no_mtime(tmp_path: Path) -> None:
    good = add_fixture(tmp_path, "good.prom")
    add_fixture(tmp_path, "malformed.prom")

    samples = collector(tmp_path).collect()

    assert [labels_of(file=str(good))] == list(series(samples, "node_textfile_mtime_seconds"))


def test_malformed_file_is_logged_with_its_name_and_the_parser_message(tmp_path: Path) -> None:
    bad = add_fixture(tmp_path, "malformed.prom")

    with capture_logs() as logs:
        collector(tmp_path).collect()

    (event,) = [e for e in logs if e["event"] == "textfile_file_failed"]
    assert str(bad) == event["file"]
    assert "line 3: could not convert string to float" in event["error"]


def test_problem_is_logged_once_while_nothing_changes(tmp_path: Path) -> None:
    add_fixture(tmp_path, "malformed.prom")
    textfile = collector(tmp_path)

    with capture_logs() as logs:
        textfile.collect()
        textfile.collect()

    assert [e["event"] for e in logs] == ["textfile_file_failed"]


def test_file_with_timestamps_is_left_out_whole(tmp_path: Path) -> None:
    add_fixture(tmp_path, "timestamps.prom")

    samples = collector(tmp_path).collect()

    assert (series(samples, "with_timestamp"), scrape_error(samples)) == ({}, 1.0)


def test_missing_directory_gives_scrape_error_and_a_log_event(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with capture_logs() as logs:
        samples = collector(missing).collect()

    assert [Sample("node_textfile_scrape_error", (), 1.0)] == samples
    assert [("textfile_directory_unreadable", str(missing))] == [(e["event"], e["directory"]) for e in logs]


def test_directory_that_cannot_be_listed_gives_scrape_error(tmp_path: Path) -> None:
    # CI runs as root, which lists a chmod 000 directory anyway; a regular file in the
    # directory's place fails the listing (NotADirectoryError) for every user.
    not_a_directory = tmp_path / "metrics"
    not_a_directory.write_text("backup_runs_total 1\n")

    assert [Sample("node_textfile_scrape_error", (), 1.0)] == collector(not_a_directory).collect()


def test_prom_entry_that_is_a_directory_is_a_failed_file(tmp_path: Path) -> None:
    add_fixture(tmp_path, "good.prom")
    (tmp_path / "nested.prom").mkdir()

    samples = collector(tmp_path).collect()

    assert (series(samples, "backup_runs_total"), scrape_error(samples)) == ({(): 42.0}, 1.0)


def test_removed_file_no_longer_contributes(tmp_path: Path) -> None:
    good = add_fixture(tmp_path, "good.prom")
    add_fixture(tmp_path, "escapes.prom")
    textfile = collector(tmp_path)
    textfile.collect()

    good.unlink()
    samples = textfile.collect()

    assert series(samples, "backup_runs_total") == {}
    assert [labels_of(file=str(tmp_path / "escapes.prom"))] == list(series(samples, "node_textfile_mtime_seconds"))


def test_fixed_file_clears_scrape_error(tmp_path: Path) -> None:
    bad = add_fixture(tmp_path, "malformed.prom")
    textfile = collector(tmp_path)
    textfile.collect()

    bad.write_text("broken_metric 1\n")

    assert scrape_error(textfile.collect()) == 0.0


# --- several files ----------------------------------------------------------------------


def test_same_family_across_files_is_combined(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text('# TYPE lag_seconds gauge\nlag_seconds{topic="a"} 1\n')
    (tmp_path / "b.prom").write_text('# TYPE lag_seconds gauge\nlag_seconds{topic="b"} 2\n')

    samples = collector(tmp_path).collect()

    expected = {labels_of(topic="a"): 1.0, labels_of(topic="b"): 2.0}
    assert (expected, 0.0) == (series(samples, "lag_seconds"), scrape_error(samples))


def test_inconsistent_help_drops_the_later_file_family(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text('# HELP lag_seconds Lag.\nlag_seconds{topic="a"} 1\n')
    (tmp_path / "b.prom").write_text('# HELP lag_seconds Delay.\nlag_seconds{topic="b"} 2\n')

    samples = collector(tmp_path).collect()

    assert ({labels_of(topic="a"): 1.0}, 1.0) == (series(samples, "lag_seconds"), scrape_error(samples))


def test_inconsistent_type_drops_the_later_file_family(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text('# TYPE lag_seconds gauge\nlag_seconds{topic="a"} 1\n')
    (tmp_path / "b.prom").write_text('# TYPE lag_seconds counter\nlag_seconds{topic="b"} 2\n')

    samples = collector(tmp_path).collect()

    assert ({labels_of(topic="a"): 1.0}, 1.0) == (series(samples, "lag_seconds"), scrape_error(samples))


def test_duplicate_series_across_files_keeps_the_first(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text("rows_loaded 1\n")
    (tmp_path / "b.prom").write_text("rows_loaded 2\n")

    samples = collector(tmp_path).collect()

    assert (series(samples, "rows_loaded"), scrape_error(samples)) == ({(): 1.0}, 1.0)


# --- mtime and caching ------------------------------------------------------------------


def test_mtime_metric_equals_os_stat_in_whole_seconds(tmp_path: Path) -> None:
    good = add_fixture(tmp_path, "good.prom")
    os.utime(good, ns=(1_700_000_000_750_000_000, 1_700_000_123_750_000_000))

    samples = collector(tmp_path).collect()

    expected = float(os.stat(good).st_mtime_ns // 1_000_000_000)
    assert {labels_of(file=str(good)): expected} == series(samples, "node_textfile_mtime_seconds")


def test_unchanged_file_is_not_parsed_again(tmp_path: Path) -> None:
    # Same inode, size and mtime: the collector trusts its cache, so a same-length
    # rewrite with the mtime put back is not seen. That is the point of the cache.
    path = tmp_path / "rows.prom"
    path.write_text("rows_loaded 1\n")
    before = os.stat(path)
    textfile = collector(tmp_path)
    textfile.collect()

    path.write_text("rows_loaded 2\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert series(textfile.collect(), "rows_loaded") == {(): 1.0}


def test_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "rows.prom"
    path.write_text("rows_loaded 1\n")
    before = os.stat(path)
    textfile = collector(tmp_path)
    textfile.collect()

    path.write_text("rows_loaded 2\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))

    assert series(textfile.collect(), "rows_loaded") == {(): 2.0}


def test_file_renamed_into_place_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "rows.prom"
    path.write_text("rows_loaded 1\n")
    before = os.stat(path)
    textfile = collector(tmp_path)
    textfile.collect()

    temporary = tmp_path / "rows.prom.tmp"
    temporary.write_text("rows_loaded 2\n")
    os.utime(temporary, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(temporary, path)

    assert series(textfile.collect(), "rows_loaded") == {(): 2.0}


# --- watching ---------------------------------------------------------------------------


class Changes:
    """Records on_change calls as an event a test can wait on."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.event.set()

    async def wait(self, seconds: float = 5.0) -> None:
        await asyncio.wait_for(self.event.wait(), timeout=seconds)


def run_watcher(directory: Path, scenario: Callable[[Changes], Awaitable[None]], retry_seconds: float = 3.0) -> None:
    """Run watch_directory while the scenario runs, then stop it and wait for it to end."""

    async def main() -> None:
        changes, stop = Changes(), asyncio.Event()
        task = asyncio.create_task(watch_directory(str(directory), changes, stop, retry_seconds=retry_seconds))
        try:
            await scenario(changes)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())


async def until_watching(directory: Path, changes: Changes) -> None:
    """Touch a `.prom` file until the watcher reports it, then let it go quiet."""
    probe = directory / "probe.prom"
    for _ in range(50):
        probe.write_text("probe 1\n")
        try:
            await changes.wait(0.1)
            break
        except TimeoutError:
            continue
    else:
        raise AssertionError("the watcher reported nothing for 5 s")
    probe.unlink()
    await asyncio.sleep(0.3)  # the probe's last events are delivered within the debounce
    changes.event.clear()


def test_watcher_calls_on_change_after_atomic_rename(tmp_path: Path) -> None:
    async def scenario(changes: Changes) -> None:
        await until_watching(tmp_path, changes)
        temporary = tmp_path / ".rows.prom.tmp"
        temporary.write_text("rows_loaded 1\n")
        os.replace(temporary, tmp_path / "rows.prom")
        await changes.wait()

    run_watcher(tmp_path, scenario)


def test_watcher_calls_on_change_after_delete(tmp_path: Path) -> None:
    target = tmp_path / "rows.prom"
    target.write_text("rows_loaded 1\n")

    async def scenario(changes: Changes) -> None:
        await until_watching(tmp_path, changes)
        target.unlink()
        await changes.wait()

    run_watcher(tmp_path, scenario)


def test_watcher_waits_for_a_missing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "later"

    async def scenario(changes: Changes) -> None:
        await asyncio.sleep(0.1)
        directory.mkdir()
        await changes.wait()

    with capture_logs() as logs:
        run_watcher(directory, scenario, retry_seconds=0.05)

    assert "textfile_watch_directory_missing" in [e["event"] for e in logs]


def test_watcher_watches_a_directory_created_late(tmp_path: Path) -> None:
    directory = tmp_path / "later"

    async def scenario(changes: Changes) -> None:
        await asyncio.sleep(0.1)
        directory.mkdir()
        await changes.wait()
        await until_watching(directory, changes)
        (directory / "rows.prom").write_text("rows_loaded 1\n")
        await changes.wait()

    run_watcher(directory, scenario, retry_seconds=0.05)


def test_watcher_follows_a_directory_removed_and_created_again(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()

    async def scenario(changes: Changes) -> None:
        await until_watching(directory, changes)
        directory.rmdir()
        await changes.wait()  # its files are gone
        changes.event.clear()
        directory.mkdir()
        await until_watching(directory, changes)
        (directory / "rows.prom").write_text("rows_loaded 1\n")
        await changes.wait()

    run_watcher(directory, scenario, retry_seconds=0.1)


def test_watcher_notices_its_directory_renamed_away(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()

    async def scenario(changes: Changes) -> None:
        await until_watching(directory, changes)
        directory.rename(tmp_path / "elsewhere")
        await changes.wait()  # its files are gone from where the collector reads
        await asyncio.sleep(0.2)

    with capture_logs() as logs:
        run_watcher(directory, scenario, retry_seconds=0.05)

    assert "textfile_watch_directory_missing" in [e["event"] for e in logs]


def test_watcher_ignores_files_that_are_not_textfiles(tmp_path: Path) -> None:
    async def scenario(changes: Changes) -> None:
        await until_watching(tmp_path, changes)
        (tmp_path / "notes.txt").write_text("not metrics\n")
        with pytest.raises(TimeoutError):
            await changes.wait(0.5)

    run_watcher(tmp_path, scenario)


def test_watcher_runs_no_thread_of_its_own(tmp_path: Path) -> None:
    """The watch is read on the event loop: nothing wakes up while the directory is quiet."""
    threads: list[int] = []

    async def scenario(changes: Changes) -> None:
        await until_watching(tmp_path, changes)
        threads.append(threading.active_count())

    before = threading.active_count()
    run_watcher(tmp_path, scenario)
    assert [before] == threads


def test_watcher_ends_when_stop_is_set(tmp_path: Path) -> None:
    async def scenario(changes: Changes) -> None:
        await until_watching(tmp_path, changes)

    run_watcher(tmp_path, scenario)  # fails with TimeoutError if the watcher outlives stop by 5 s


def test_a_files_repeated_label_pairs_and_names_are_kept_once() -> None:
    """What keeps a 100,000-series file's memory down: its samples share pairs, names and label names."""
    text = 'm{shard="1",instance="a"} 1\nm{shard="1",instance="b"} 2\nn{shard="1",instance="c"} 3\n'
    first, second, third = (sample for family in parse_textfile(text) for sample in family.samples)

    assert [first.labels, third.labels] == [labels_of(instance="a", shard="1"), labels_of(instance="c", shard="1")]
    assert first.labels[1] is second.labels[1] is third.labels[1]  # ("shard", "1")
    assert first.labels[0][0] is second.labels[0][0]  # "instance"
    assert first.name is second.name


# --- promql_compat: 3 --------------------------------------------------------------------

FLOAT_LABELS = """# TYPE job_duration_seconds histogram
job_duration_seconds_bucket{le="1"} 3
job_duration_seconds_bucket{le="2.50"} 4
job_duration_seconds_bucket{le="1e6"} 5
job_duration_seconds_bucket{le="+Inf"} 5
job_duration_seconds_sum 7
job_duration_seconds_count 5
# TYPE rpc_seconds summary
rpc_seconds{quantile="0"} 0.1
rpc_seconds{quantile="0.00001"} 0.2
rpc_seconds_sum 3
rpc_seconds_count 2
# TYPE build_info gauge
build_info{le="1"} 1
"""


def test_le_and_quantile_are_written_as_prometheus_3_scrapes_them(tmp_path: Path) -> None:
    (tmp_path / "jobs.prom").write_text(FLOAT_LABELS)
    samples = TextfileCollector(TextfileConfig(directory=str(tmp_path)), normalize_float_labels=True).collect()
    got = {
        name: sorted(value for labels in series(samples, name) for key, value in labels if key in ("le", "quantile"))
        for name in ("job_duration_seconds_bucket", "rpc_seconds", "build_info")
    }
    assert got == {
        "job_duration_seconds_bucket": sorted(["1.0", "2.5", "1e+06", "+Inf"]),
        "rpc_seconds": ["0.0", "1e-05"],
        "build_info": ["1"],  # only histograms' le and summaries' quantile
    }


def test_le_is_kept_as_written_for_prometheus_2(tmp_path: Path) -> None:
    (tmp_path / "jobs.prom").write_text(FLOAT_LABELS)
    buckets = series(collector(tmp_path).collect(), "job_duration_seconds_bucket")
    assert sorted(dict(labels)["le"] for labels in buckets) == sorted(["1", "2.50", "1e6", "+Inf"])
