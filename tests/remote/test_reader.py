"""Reading the WAL by position: resuming, following segments, holding them, giving them up."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agent.config.remote_write import RelabelAction, RelabelConfig
from agent.model import Sample, labels_of
from agent.relabel import Relabeler
from agent.remote.codec import decode
from agent.remote.position import Position, PositionFile
from agent.remote.reader import Batch, WalReader
from agent.store import Store
from agent.store.wal import Wal
from agent.store.wal.segments import HEADER_SIZE, segment_name, segment_numbers

A = labels_of(job="a")
B = labels_of(job="b")


async def write(wal_dir: Path, times: range, *, segment_bytes: int = 1 << 20, hold: int | None = None) -> Wal:
    """Write `up` for A and B at each of `times` (seconds) through a logging store, then stop the writer."""
    store = Store(retention_ms=3_600_000)
    wal = Wal(wal_dir, segment_bytes=segment_bytes)
    wal.attach(store)
    if hold is not None:
        wal.holds.hold("q", hold)
    for t in times:
        store.write("collector:x", [Sample("up", A, t), Sample("up", B, -t)], t * 1000)
        await store.sync()
    await wal.checkpoint(store, times[-1] * 1000)
    assert wal._thread is not None
    await wal._thread.stop()
    return wal


def reader(wal_dir: Path, start: Position, relabel: list[RelabelConfig] | None = None) -> WalReader:
    return WalReader(wal_dir, start, external_labels={"site": "x"}, relabeler=Relabeler(relabel or []))


def sent(batch: Batch) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
    """What a request made of `batch` carries, per label set."""
    out: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    for request in batch.builder.requests():
        for series in decode(request.body).timeseries:
            labels = tuple((label.name, label.value) for label in series.labels)
            out.setdefault(labels, []).extend((s.timestamp, s.value) for s in series.samples)
    return out


UP_A = (("__name__", "up"), ("job", "a"), ("site", "x"))
UP_B = (("__name__", "up"), ("job", "b"), ("site", "x"))


def test_reads_every_sample_with_external_labels(tmp_path: Path) -> None:
    asyncio.run(write(tmp_path, range(1, 4), hold=1))
    batch = reader(tmp_path, Position(1, HEADER_SIZE)).read(100)
    assert {UP_A: [(1000, 1.0), (2000, 2.0), (3000, 3.0)], UP_B: [(1000, -1.0), (2000, -2.0), (3000, -3.0)]} == sent(
        batch
    )
    assert 6 == batch.samples


def test_a_batch_holds_whole_writes_up_to_max_samples(tmp_path: Path) -> None:
    asyncio.run(write(tmp_path, range(1, 6), hold=1))
    first = reader(tmp_path, Position(1, HEADER_SIZE)).read(5)
    assert 4 == first.samples  # two writes of two samples; the third would pass 5
    assert [(1000, 1.0), (2000, 2.0)] == sent(first)[UP_A]


def test_resuming_at_a_saved_position_sends_only_what_follows(tmp_path: Path) -> None:
    """After a restart the reader reads the segment's series again but none of the samples before the position."""
    asyncio.run(write(tmp_path, range(1, 6), hold=1))
    first = reader(tmp_path, Position(1, HEADER_SIZE)).read(4)
    resumed = reader(tmp_path, first.end).read(100)
    assert [(3000, 3.0), (4000, 4.0), (5000, 5.0)] == sent(resumed)[UP_A]


def test_follows_segments_in_order(tmp_path: Path) -> None:
    asyncio.run(write(tmp_path, range(1, 21), segment_bytes=200, hold=1))
    assert len(segment_numbers(tmp_path)) > 3
    wal_reader = reader(tmp_path, Position(1, HEADER_SIZE))
    times: list[int] = []
    while batch := wal_reader.read(10):
        if not batch.samples:
            break
        times.extend(t for t, _ in sent(batch)[UP_A])
    assert [t * 1000 for t in range(1, 21)] == times


def test_checkpoints_keep_the_segments_a_reader_holds(tmp_path: Path) -> None:
    asyncio.run(write(tmp_path, range(1, 21), segment_bytes=200, hold=3))
    numbers = segment_numbers(tmp_path)
    assert 3 == numbers[0]  # 1 and 2 were covered by the checkpoint and not held


def test_checkpoints_drop_segments_nobody_holds(tmp_path: Path) -> None:
    asyncio.run(write(tmp_path, range(1, 21), segment_bytes=200))
    assert [] == segment_numbers(tmp_path)


def test_segments_older_than_the_retention_are_given_up_and_counted(tmp_path: Path) -> None:
    asyncio.run(write(tmp_path, range(1, 21), segment_bytes=200, hold=1))
    numbers = segment_numbers(tmp_path)
    for old in numbers[:2]:
        os.utime(tmp_path / segment_name(old), (0, 0))
    wal_reader = reader(tmp_path, Position(1, HEADER_SIZE))
    skipped = wal_reader.expire(3600)
    assert 2 == skipped.segments
    assert Position(numbers[2], HEADER_SIZE) == wal_reader.position
    assert 40 == skipped.samples + wal_reader.read(1000).samples


def test_write_relabel_configs_drop_series_and_count_them(tmp_path: Path) -> None:
    asyncio.run(write(tmp_path, range(1, 4), hold=1))
    drop_b = RelabelConfig(source_labels=["job"], regex="b", action=RelabelAction.DROP)
    batch = reader(tmp_path, Position(1, HEADER_SIZE), [drop_b]).read(100)
    assert [UP_A] == list(sent(batch))
    assert 3 == batch.dropped_by_relabel


def test_a_new_segment_is_read_once_the_writer_creates_it(tmp_path: Path) -> None:
    wal_reader = reader(tmp_path, Position(1, HEADER_SIZE))
    assert 0 == wal_reader.read(100).samples
    asyncio.run(write(tmp_path, range(1, 3), hold=1))
    assert 4 == wal_reader.read(100).samples


def test_position_file_round_trip_and_no_leftovers(tmp_path: Path) -> None:
    positions = PositionFile(tmp_path / "remote_write" / "q.json")
    assert positions.load() is None
    assert positions.save(Position(7, 1234))
    assert Position(7, 1234) == positions.load()
    assert ["q.json"] == os.listdir(tmp_path / "remote_write")


def test_a_request_across_two_segments_keeps_every_series_apart(tmp_path: Path) -> None:
    """Series ids restart in every segment: one request holding samples of two must not mix series up.

    Seen after a kill -9: the first collection after the restart went out under another series'
    labels, because the new segment gave `rw_probe` an id the old one had given another series.
    """

    async def scenario() -> None:
        store = Store(retention_ms=3_600_000)
        wal = Wal(tmp_path, segment_bytes=1 << 20)
        wal.attach(store)
        wal.holds.hold("q", 1)
        store.write("collector:x", [Sample("up", A, 1.0)], 1000)
        await store.sync()
        await wal.checkpoint(store, 1000)  # closes segment 1; the next write opens segment 2
        store.write("collector:x", [Sample("down", B, 2.0), Sample("up", A, 3.0)], 2000)
        await store.sync()
        assert wal._thread is not None
        await wal._thread.stop()

    asyncio.run(scenario())
    assert len(segment_numbers(tmp_path)) == 2
    batch = reader(tmp_path, Position(1, HEADER_SIZE)).read(100)
    assert sent(batch) == {
        UP_A: [(1000, 1.0), (2000, 3.0)],
        (("__name__", "down"), ("job", "b"), ("site", "x")): [(2000, 2.0)],
    }
