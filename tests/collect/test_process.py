"""ProcessCollector: parsers on text copied from a real /proc, the collector on a fixture tree and
on this very process, compared with client_python's own ProcessCollector."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.process_collector import ProcessCollector as ClientPythonProcessCollector

from agent.collect.process import (
    UNLIMITED,
    ProcessCollector,
    ProcStat,
    parse_boot_time,
    parse_max_open_files,
    parse_proc_stat,
)
from agent.model import MetricType, Sample

# /proc/1137/stat of a `cat`, with utime 250 and stime 130 ticks put in by hand (fields 14 and 15).
STAT = (
    "1137 (cat) R 1135 1135 16366 0 -1 4194304 99 0 0 0 250 130 0 0 20 0 1 0 278286 3133440 387 "
    "18446744073709551615 94780286332928 94780286352809 140737159287120 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 "
    "94780286368816 94780286370432 94780737970176 140737159289342 140737159289362 140737159289362 "
    "140737159290859 0\n"
)
LIMITS = (
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max open files            20000                524288               files     \n"
    "Max locked memory         8388608              8388608              bytes     \n"
)
PROC_STAT = "cpu  10 0 5 100 0 0 0 0 0 0\nintr 1\nctxt 2\nbtime 1795501282\nprocesses 3\n"


def fixture_proc(root: Path, open_fds: int = 3) -> Path:
    """A /proc tree with one process, 4242, holding `open_fds` descriptors."""
    process = root / "4242"
    (process / "fd").mkdir(parents=True)
    (process / "stat").write_text(STAT)
    (process / "limits").write_text(LIMITS)
    for fd in range(open_fds):
        (process / "fd" / str(fd)).write_text("")
    (root / "stat").write_text(PROC_STAT)
    return root


def test_proc_stat_gives_fields_in_seconds_bytes_and_pages() -> None:
    assert ProcStat(
        cpu_seconds=3.8, start_seconds_after_boot=2782.86, virtual_bytes=3133440, resident_pages=387
    ) == parse_proc_stat(STAT)


def test_proc_stat_reads_past_a_command_name_with_spaces_and_parentheses() -> None:
    tricky = STAT.replace("(cat)", "(a) b (c))")
    assert parse_proc_stat(STAT) == parse_proc_stat(tricky)


def test_boot_time_is_the_btime_line_of_proc_stat() -> None:
    assert 1795501282.0 == parse_boot_time(PROC_STAT)


def test_proc_stat_without_btime_is_an_error() -> None:
    with pytest.raises(ValueError, match="btime"):
        parse_boot_time("cpu  1 2 3\n")


def test_max_open_files_is_the_soft_limit() -> None:
    assert 20000.0 == parse_max_open_files(LIMITS)


def test_unlimited_open_files_is_reported_as_client_golang_does() -> None:
    text = LIMITS.replace("20000                524288", "unlimited            unlimited")
    assert 18446744073709551615.0 == UNLIMITED == parse_max_open_files(text)


def test_collector_reads_a_fixture_proc_tree(tmp_path: Path) -> None:
    collector = ProcessCollector(procfs=str(fixture_proc(tmp_path, open_fds=5)), pid="4242", page_size=4096)
    assert [
        Sample("process_cpu_seconds_total", (), 3.8),
        Sample("process_resident_memory_bytes", (), 387 * 4096),
        Sample("process_virtual_memory_bytes", (), 3133440),
        Sample("process_open_fds", (), 5),
        Sample("process_max_fds", (), 20000),
        Sample("process_start_time_seconds", (), 1795501282 + 2782.86),
    ] == collector.collect()


def test_collector_without_its_process_raises_so_the_runner_reports_it_down(tmp_path: Path) -> None:
    collector = ProcessCollector(procfs=str(fixture_proc(tmp_path)), pid="999")
    with pytest.raises(FileNotFoundError):
        collector.collect()


def test_collector_is_named_process_default() -> None:
    collector = ProcessCollector()
    assert ("process", "default") == (collector.name, collector.instance)


def test_declared_names_types_and_help_are_client_pythons() -> None:
    theirs = {(f.name, f.type, f.documentation) for f in ClientPythonProcessCollector(registry=None).collect()}
    ours = {
        (m.name.removesuffix("_total") if m.type is MetricType.COUNTER else m.name, m.type.value, m.help)
        for m in ProcessCollector().metrics()
    }
    assert theirs == ours  # client_python names a counter family without its _total suffix


def test_this_process_has_client_pythons_start_time_and_fd_limit() -> None:
    ours = {s.name: s.value for s in ProcessCollector().collect()}
    theirs = {s.name: s.value for f in ClientPythonProcessCollector(registry=None).collect() for s in f.samples}
    names = ("process_start_time_seconds", "process_max_fds")
    assert {n: theirs[n] for n in names} == {n: ours[n] for n in names}


def test_this_process_uses_cpu_memory_and_descriptors() -> None:
    values = {s.name: s.value for s in ProcessCollector().collect()}
    assert values["process_cpu_seconds_total"] > 0
    assert 0 < values["process_resident_memory_bytes"] < values["process_virtual_memory_bytes"]
    assert 3 <= values["process_open_fds"] <= values["process_max_fds"]  # at least stdin, stdout and stderr
