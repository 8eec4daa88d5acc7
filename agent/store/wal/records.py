"""The records of the write-ahead log and of its checkpoint, and their binary encoding.

Like Prometheus' tsdb/record, a record is a type byte and a payload; framing, checksums and
segments are the log's business (segments.py). All integers and floats are little-endian.

- SERIES: JSON `[[ref, name, [k1, v1, k2, v2, ...]], ...]` — gives series a number (`ref`)
  that later records of the same segment use. Refs start over in every segment, so each
  segment can be read on its own: a corrupt one loses only itself.
- SAMPLES: one write of one source at one time: `t_ms:i64 n:u32 source_len:u16 source`,
  then n refs (u32) and n values (f64). The values keep their bits, staleness markers too.
  The source (empty for writes that belong to none) lets replay restore which series each
  source wrote last, so the first collection after a restart marks vanished series stale.
- POINTS (checkpoint only): `header_len:u32`, a JSON header `[[ref, name, [labels...], n], ...]`,
  then for each series its n timestamps (i64) and n values (f64).
- OWNERS (checkpoint only): JSON `[[source, [ref, ...]], ...]`, the series each source wrote last.
"""

from __future__ import annotations

import enum
import json
import struct
import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from agent.model import Labels, SeriesKey

_SAMPLES_HEAD = struct.Struct("<qIH")
_U32 = struct.Struct("<I")
_LITTLE = sys.byteorder == "little"


class RecordType(enum.IntEnum):
    """The first byte of every record."""

    SERIES = 1
    SAMPLES = 2
    POINTS = 3
    OWNERS = 4


class RecordError(ValueError):
    """A record whose payload does not decode (its checksum matched: written by a bug, not a crash)."""


@dataclass(frozen=True, slots=True)
class SamplesRecord:
    """One write: `values[i]` of series `refs[i]` at `t_ms`, by `source`."""

    source: str
    t_ms: int
    refs: Sequence[int]
    values: Sequence[float]


@dataclass(frozen=True, slots=True)
class PointsEntry:
    """One series of a checkpoint with all its points."""

    ref: int
    key: SeriesKey
    times: array[int]
    values: array[float]


def _flat(labels: Labels) -> list[str]:
    return [part for pair in labels for part in pair]


def _labels(flat: Sequence[str]) -> Labels:
    pairs = iter(flat)
    return tuple(zip(pairs, pairs, strict=False))  # one iterator read two at a time


def _to_le(arr: array[Any]) -> bytes:
    if _LITTLE:
        return arr.tobytes()
    swapped = array(arr.typecode, arr)
    swapped.byteswap()
    return swapped.tobytes()


def _ints_from_le(typecode: str, data: bytes | memoryview) -> array[int]:
    out: array[int] = array(typecode)
    out.frombytes(data)
    if not _LITTLE:
        out.byteswap()
    return out


def _floats_from_le(data: bytes | memoryview) -> array[float]:
    out = array("d")
    out.frombytes(data)
    if not _LITTLE:
        out.byteswap()
    return out


def encode_series(entries: Sequence[tuple[int, SeriesKey]]) -> bytes:
    """A SERIES record body for (ref, key) pairs."""
    rows = [[ref, key.name, _flat(key.labels)] for ref, key in entries]
    return json.dumps(rows, separators=(",", ":")).encode()


def decode_series(payload: bytes | memoryview) -> list[tuple[int, SeriesKey]]:
    """The (ref, series) pairs of a SERIES record; RecordError when it is malformed."""
    try:
        return [(int(ref), SeriesKey(str(name), _labels(flat))) for ref, name, flat in json.loads(bytes(payload))]
    except (ValueError, TypeError) as exc:
        raise RecordError(f"series record: {exc}") from exc


def encode_samples(source: str, t_ms: int, refs: array[int], values: array[float]) -> bytes:
    """A SAMPLES record body; `refs` must be an array('I') and `values` an array('d') of equal length."""
    name = source.encode()
    return b"".join((_SAMPLES_HEAD.pack(t_ms, len(refs), len(name)), name, _to_le(refs), _to_le(values)))


def decode_samples(payload: bytes | memoryview) -> SamplesRecord:
    """A SAMPLES record's source, time and (refs, values); RecordError when it is malformed."""
    view = memoryview(payload)
    try:
        t_ms, count, name_len = _SAMPLES_HEAD.unpack_from(view)
    except struct.error as exc:
        raise RecordError(f"samples record: {exc}") from exc
    start = _SAMPLES_HEAD.size + name_len
    refs_end = start + 4 * count
    if len(view) != refs_end + 8 * count:
        raise RecordError(f"samples record: {len(view)} bytes do not hold {count} samples")
    source = bytes(view[_SAMPLES_HEAD.size : start]).decode()
    return SamplesRecord(source, t_ms, _ints_from_le("I", view[start:refs_end]), _floats_from_le(view[refs_end:]))


def encode_points(entries: Sequence[PointsEntry]) -> bytes:
    """A POINTS record body for a chunk of checkpointed series."""
    header = json.dumps(
        [[e.ref, e.key.name, _flat(e.key.labels), len(e.times)] for e in entries], separators=(",", ":")
    ).encode()
    parts = [_U32.pack(len(header)), header]
    for entry in entries:
        parts.append(_to_le(entry.times))
        parts.append(_to_le(entry.values))
    return b"".join(parts)


def decode_points(payload: bytes | memoryview) -> Iterator[PointsEntry]:
    """Each series of a POINTS record with its points; RecordError when it is malformed or truncated."""
    view = memoryview(payload)
    try:
        (header_len,) = _U32.unpack_from(view)
        header = json.loads(bytes(view[4 : 4 + header_len]))
    except (struct.error, ValueError) as exc:
        raise RecordError(f"points record: {exc}") from exc
    offset = 4 + header_len
    for ref, name, flat, count in header:
        end = offset + 16 * count
        if end > len(view):
            raise RecordError("points record: truncated")
        times = _ints_from_le("q", view[offset : offset + 8 * count])
        values = _floats_from_le(view[offset + 8 * count : end])
        yield PointsEntry(int(ref), SeriesKey(str(name), _labels(flat)), times, values)
        offset = end


def encode_owners(owners: Sequence[tuple[str, Sequence[int]]]) -> bytes:
    """An OWNERS record body: each source with the refs of the series it wrote last."""
    return json.dumps([[source, list(refs)] for source, refs in owners], separators=(",", ":")).encode()


def decode_owners(payload: bytes | memoryview) -> list[tuple[str, list[int]]]:
    """Each source of an OWNERS record with the refs it wrote last; RecordError when it is malformed."""
    try:
        return [(str(source), [int(r) for r in refs]) for source, refs in json.loads(bytes(payload))]
    except (ValueError, TypeError) as exc:
        raise RecordError(f"owners record: {exc}") from exc
