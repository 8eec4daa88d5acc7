"""The write-ahead log against real files: round trips, checkpoints, and damaged segments."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable
from pathlib import Path

import pytest

from agent.model import Sample, labels_of
from agent.store import Store, is_stale
from agent.store.wal import FormatVersionError, Wal
from agent.store.wal.segments import HEADER_SIZE, checkpoint_numbers, segment_name, segment_numbers

A = labels_of(job="a")
B = labels_of(job="b")


def points(store: Store, name: str, labels: Iterable[tuple[str, str]]) -> list[tuple[int, float | str]]:
    """A series' points, staleness markers spelled out (NaN != NaN would hide them)."""
    series = store.get(name, tuple(labels))
    assert series is not None, f"{name}{dict(labels)} missing"
    return [(t, "stale" if is_stale(v) else v) for t, v in zip(series.times, series.values, strict=True)]


async def write_history(wal_dir: Path, *, checkpoint_at_end: bool, segment_bytes: int = 1 << 20) -> Store:
    """Three writes of two sources through a logging store; closed with or without a checkpoint."""
    store = Store(retention_ms=3_600_000)
    wal = Wal(wal_dir, segment_bytes=segment_bytes)
    wal.attach(store)
    store.write("collector:x", [Sample("up", A, 1), Sample("up", B, 1)], 1_000)
    store.write("rule:r", [Sample("recorded", (), 7)], 1_500)
    store.write("collector:x", [Sample("up", A, 0)], 2_000)  # B goes stale
    await store.sync()
    if checkpoint_at_end:
        await wal.close(store, 2_000)
    else:
        assert wal._thread is not None
        await wal._thread.stop()  # like kill -9 after the write: no checkpoint
    return store


def replayed(wal_dir: Path) -> Store:
    store = Store(retention_ms=3_600_000)
    Wal(wal_dir).replay_into(store)
    return store


@pytest.mark.parametrize("checkpoint_at_end", [True, False], ids=["checkpoint", "segments-only"])
def test_replay_restores_history_and_staleness_as_written(tmp_path: Path, checkpoint_at_end: bool) -> None:
    original = asyncio.run(write_history(tmp_path, checkpoint_at_end=checkpoint_at_end))
    restored = replayed(tmp_path)
    assert points(original, "up", A) == points(restored, "up", A) == [(1000, 1.0), (2000, 0.0)]
    assert points(restored, "up", B) == [(1000, 1.0), (2000, "stale")]
    assert points(restored, "recorded", ()) == [(1500, 7.0)]


@pytest.mark.parametrize("checkpoint_at_end", [True, False], ids=["checkpoint", "segments-only"])
def test_a_source_that_stops_writing_a_series_after_restart_marks_it_stale(
    tmp_path: Path, checkpoint_at_end: bool
) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=checkpoint_at_end))
    store = replayed(tmp_path)
    store.write("rule:r", [], 3_000)  # the recording rule's result vanished after the restart
    assert points(store, "recorded", ()) == [(1500, 7.0), (3000, "stale")]


def test_graceful_close_leaves_only_the_checkpoint_to_read(tmp_path: Path) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=True))
    assert checkpoint_numbers(tmp_path) == [1]
    assert segment_numbers(tmp_path) == []


def test_checkpoint_keeps_only_the_retention(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Store(retention_ms=10_000)
        wal = Wal(tmp_path)
        wal.attach(store)
        for t in range(0, 60_000, 5_000):
            store.write("s", [Sample("up", A, t)], t)
        await wal.close(store, 60_000)

    asyncio.run(scenario())
    restored = Store(retention_ms=10_000)
    Wal(tmp_path).replay_into(restored)
    assert [t for t, _ in points(restored, "up", A)] == [50_000, 55_000]


def test_writes_after_a_checkpoint_replay_on_top_of_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Store(retention_ms=3_600_000)
        wal = Wal(tmp_path)
        wal.attach(store)
        store.write("s", [Sample("up", A, 1)], 1_000)
        assert await wal.checkpoint(store, 1_000)
        store.write("s", [Sample("up", A, 2)], 2_000)
        await store.sync()
        assert wal._thread is not None
        await wal._thread.stop()

    asyncio.run(scenario())
    assert checkpoint_numbers(tmp_path) == [1]
    assert segment_numbers(tmp_path) == [2]
    assert points(replayed(tmp_path), "up", A) == [(1000, 1.0), (2000, 2.0)]


def test_segments_are_cut_at_their_size_and_each_replays_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Store(retention_ms=3_600_000)
        wal = Wal(tmp_path, segment_bytes=200)
        wal.attach(store)
        for t in range(1, 21):
            store.write("s", [Sample("up", A, t), Sample("up", B, -t)], t * 1000)
            await store.sync()
        assert wal._thread is not None
        await wal._thread.stop()

    asyncio.run(scenario())
    numbers = segment_numbers(tmp_path)
    assert len(numbers) > 3
    # Damage the second segment beyond repair: the others still replay in full.
    (tmp_path / segment_name(numbers[1])).write_bytes(b"\0" * 64)
    store = replayed(tmp_path)
    times = [t for t, _ in points(store, "up", A)]
    assert times[0] == 1000 and times[-1] == 20_000
    assert 0 < 20 - len(times) <= 3  # what the damaged segment held, no more


def newest_segment(directory: Path) -> Path:
    return directory / segment_name(segment_numbers(directory)[-1])


def test_a_torn_last_record_is_dropped_and_the_rest_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=False))
    segment = newest_segment(tmp_path)
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # the last record half written, as a kill -9 leaves it
    store = Store(retention_ms=3_600_000)
    stats = Wal(tmp_path).replay_into(store)
    assert stats.torn_tail and stats.corruptions == 0
    assert points(store, "up", A) == [(1000, 1.0)]
    assert "wal_torn_tail_dropped" in capsys.readouterr().out


def test_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=False))
    segment = newest_segment(tmp_path)
    segment.write_bytes(segment.read_bytes() + b"\0" * 4096)
    store = Store(retention_ms=3_600_000)
    stats = Wal(tmp_path).replay_into(store)
    assert stats.torn_tail
    assert points(store, "up", A) == [(1000, 1.0), (2000, 0.0)]


def test_a_flipped_bit_ends_that_segment_with_an_error_and_a_count(tmp_path: Path) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=False))
    segment = newest_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[HEADER_SIZE + 20] ^= 0x10  # inside the first record
    segment.write_bytes(bytes(data))
    # A later segment makes the damaged one not the newest: corruption, not a torn tail.
    later = tmp_path / segment_name(segment_numbers(tmp_path)[-1] + 1)
    later.write_bytes(data[:HEADER_SIZE])
    store = Store(retention_ms=3_600_000)
    stats = Wal(tmp_path).replay_into(store)
    assert stats.corruptions == 1
    assert store.series_count == 0


def test_a_corrupt_checkpoint_is_reported_and_replay_goes_on(tmp_path: Path) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=True))
    checkpoint = tmp_path / "checkpoint.00000001"
    data = bytearray(checkpoint.read_bytes())
    data[-3] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    stats = Wal(tmp_path).replay_into(Store())
    assert stats.corruptions == 1


def test_a_segment_from_a_future_format_version_is_refused_by_name(tmp_path: Path) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=False))
    segment = newest_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    struct.pack_into("<I", data, 8, 99)
    segment.write_bytes(bytes(data))
    with pytest.raises(FormatVersionError, match=rf"{segment}: WAL format version 99"):
        Wal(tmp_path).replay_into(Store())


def test_a_checkpoint_left_half_written_by_a_crash_is_removed(tmp_path: Path) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=False))
    (tmp_path / "checkpoint.00000001.tmp").write_bytes(b"partial")
    store = replayed(tmp_path)
    assert points(store, "up", A) == [(1000, 1.0), (2000, 0.0)]
    assert not list(tmp_path.glob("*.tmp"))


def test_new_writes_after_replay_go_to_a_new_segment(tmp_path: Path) -> None:
    asyncio.run(write_history(tmp_path, checkpoint_at_end=False))
    before = segment_numbers(tmp_path)
    asyncio.run(write_history(tmp_path, checkpoint_at_end=False))
    assert segment_numbers(tmp_path) == [*before, before[-1] + 1]


def test_checkpoint_is_due_when_segments_outgrow_a_quarter_of_it(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.stats.last_checkpoint_bytes = 100 << 20
    wal.stats.segment_bytes_since_checkpoint = 20 << 20
    assert not wal.checkpoint_due(retention_ms=3_600_000)
    wal.stats.segment_bytes_since_checkpoint = 26 << 20
    assert wal.checkpoint_due(retention_ms=3_600_000)


def test_checkpoint_is_due_once_the_segments_are_older_than_the_retention(tmp_path: Path) -> None:
    now = [1000.0]
    wal = Wal(tmp_path, monotonic=lambda: now[0])
    wal.stats.segment_bytes_since_checkpoint = 10
    assert not wal.checkpoint_due(retention_ms=600_000)
    now[0] += 601
    assert wal.checkpoint_due(retention_ms=600_000)
