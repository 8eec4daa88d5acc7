"""Hostile textfiles against the real daemon: a FIFO, a huge file, a file with a million series."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import DaemonProcess, StartDaemon, wait_until
from tests.faults.scraping import peak_rss_bytes, scrape, value

MIB = 1024 * 1024
# Far above the daemon's own peak (about 70 MiB here), far below what one big file cost before the
# limits (826 MiB for 100 MB, 1.11 GiB for a million series) and the unit's MemoryMax of 512M.
PEAK_RSS_BOUND = 300 * MIB


def config(tmp_path: Path) -> str:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    return f"""
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {tmp_path / "state"}
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}, timeout: 2s}}
"""


def write_prom(tmp_path: Path, name: str, text: str) -> None:
    tmp = tmp_path / "textfile" / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, tmp_path / "textfile" / name)


def file_error(daemon: DaemonProcess, path: Path, reason: str) -> float | None:
    return value(scrape(daemon), "tripwired_textfile_file_error", file=str(path), reason=reason)


def job_value(daemon: DaemonProcess) -> float | None:
    return value(scrape(daemon), "batch_job_last_success_timestamp_seconds", job="etl")


def test_a_fifo_named_prom_does_not_block_the_textfile_collector(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A FIFO named x.prom, that no one writes to, in the textfile directory.

    The FIFO is reported by name (tripwired_textfile_file_error{reason="not_regular"}, one log
    line), and the other files keep being read: a change to one shows up in /metrics.
    """
    daemon = start_daemon(config(tmp_path))
    fifo = tmp_path / "textfile" / "x.prom"
    os.mkfifo(fifo)
    write_prom(tmp_path, "job.prom", 'batch_job_last_success_timestamp_seconds{job="etl"} 1\n')
    daemon.wait_ready()
    wait_until(lambda: file_error(daemon, fifo, "not_regular") == 1.0, what="the FIFO reported")
    for round_ in range(2, 5):
        write_prom(tmp_path, "job.prom", f'batch_job_last_success_timestamp_seconds{{job="etl"}} {round_}\n')
        wait_until(lambda r=round_: job_value(daemon) == float(r), what=f"the job file's value {round_}")
    assert 1.0 == value(scrape(daemon), "tripwired_collector_up", collector="textfile", instance="default")
    assert 1 == daemon.log().count("not a regular file")


def test_a_100_mb_textfile_is_refused_whole_and_memory_stays_bounded(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A 100 MB textfile (over the 16 MiB default file size limit).

    It is refused whole with tripwired_textfile_file_error{reason="too_large"} naming it and one log
    line; none of its series is imported; the daemon's peak RSS stays far under its MemoryMax.
    """
    daemon = start_daemon(config(tmp_path))
    daemon.wait_ready()
    huge = tmp_path / "textfile" / "huge.prom"
    line = 'huge_series{pad="' + "x" * 80 + '",i="%d"} 1\n'
    with (tmp_path / "textfile" / ".huge.tmp").open("w") as f:
        for i in range(100 * MIB // len(line)):
            f.write(line % i)
    os.replace(tmp_path / "textfile" / ".huge.tmp", huge)
    wait_until(lambda: file_error(daemon, huge, "too_large") == 1.0, what="the huge file refused")
    assert not any(name == "huge_series" for name, _ in scrape(daemon))
    assert 1 == daemon.log().count("larger than the file size limit")
    peak = peak_rss_bytes(daemon.proc.pid)
    print(f"peak RSS {peak // MIB} MiB")
    assert peak < PEAK_RSS_BOUND


def test_a_textfile_with_a_million_series_is_refused_whole_and_memory_stays_bounded(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A textfile with a million series in 15 MB (under the size limit, over the sample limit).

    It is refused whole by name (tripwired_textfile_file_error{reason="too_many_samples"}, over the
    default 100,000), with no partial import; the daemon's peak RSS stays far under its MemoryMax,
    and a good file beside it is read throughout.
    """
    daemon = start_daemon(config(tmp_path))
    write_prom(tmp_path, "job.prom", 'batch_job_last_success_timestamp_seconds{job="etl"} 1\n')
    daemon.wait_ready()
    many = tmp_path / "textfile" / "many.prom"
    write_prom(tmp_path, "many.prom", "# TYPE m gauge\n" + "".join(f'm{{i="{i}"}} 1\n' for i in range(1_000_000)))
    assert many.stat().st_size < 16 * MIB
    wait_until(lambda: file_error(daemon, many, "too_many_samples") == 1.0, what="the million-series file refused")
    samples = scrape(daemon)
    assert (False, 1.0) == (any(name == "m" for name, _ in samples), job_value(daemon))
    assert 1 == daemon.log().count("more than the sample limit")
    peak = peak_rss_bytes(daemon.proc.pid)
    print(f"peak RSS {peak // MIB} MiB")
    assert peak < PEAK_RSS_BOUND
