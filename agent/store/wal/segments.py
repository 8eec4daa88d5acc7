"""Segment and checkpoint files: names, the versioned header, and checksummed record frames.

A file starts with an 8-byte magic and a format version (u32). Then come frames:
`length:u32 crc32:u32 body`, where `body` is the record's type byte and payload and the
CRC-32 (zlib's) covers the whole body. A crash mid-write leaves a torn last frame; reading
stops at the first frame that is short, over-long or fails its checksum and says where.
A file of a version this build does not know is refused, never guessed at.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.store.wal.records import RecordType

FORMAT_VERSION = 1
SEGMENT_MAGIC = b"TWWAL\x00\x00\x00"
CHECKPOINT_MAGIC = b"TWCKPT\x00\x00"
_HEADER = struct.Struct("<8sI")
_FRAME = struct.Struct("<II")
HEADER_SIZE = _HEADER.size
_SEGMENT = re.compile(r"^\d{8}$")
_CHECKPOINT = re.compile(r"^checkpoint\.(\d{8})$")
_KNOWN_TYPES = frozenset(int(t) for t in RecordType)


class FormatVersionError(Exception):
    """A WAL file written in a format this tripwired does not read."""


def segment_name(number: int) -> str:
    """The file name of segment `number` (eight digits)."""
    return f"{number:08d}"


def checkpoint_name(number: int) -> str:
    """The directory name of the checkpoint that covers segments up to `number`."""
    return f"checkpoint.{number:08d}"


def segment_numbers(directory: Path) -> list[int]:
    """The numbers of the segments in `directory`, ascending."""
    return sorted(int(p.name) for p in _entries(directory) if _SEGMENT.match(p.name))


def checkpoint_numbers(directory: Path) -> list[int]:
    """The numbers of the complete checkpoints in `directory`, ascending."""
    return sorted(int(m.group(1)) for p in _entries(directory) if (m := _CHECKPOINT.match(p.name)))


def _entries(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.is_dir() else []


def file_header(magic: bytes) -> bytes:
    """The header every WAL file starts with: its magic and the format version."""
    return _HEADER.pack(magic, FORMAT_VERSION)


def frame(record_type: RecordType, payload: bytes) -> bytes:
    """One record, framed: length, checksum, type byte, payload."""
    type_byte = bytes((record_type,))
    crc = zlib.crc32(payload, zlib.crc32(type_byte))
    return b"".join((_FRAME.pack(len(payload) + 1, crc), type_byte, payload))


@dataclass
class FileContents:
    """The intact records of one file, and why reading stopped early (None: it did not)."""

    records: Sequence[tuple[RecordType, memoryview]] = field(default_factory=list)
    problem: str | None = None
    ends: Sequence[int] = field(default_factory=list)  # the byte offset just past each record's frame


def read_records(path: Path, magic: bytes, offset: int = HEADER_SIZE) -> FileContents:
    """Every intact record of a segment or checkpoint file from byte `offset`, up to the first damaged frame.

    `offset` is the end of a record read before (FileContents.ends): a reader following the log, such
    as remote_write, reads only what was appended since. Raises FormatVersionError for a file of
    another format version.
    """
    with path.open("rb") as file:
        header = file.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE:
            return FileContents(problem=f"{len(header)} bytes, shorter than the file header")
        found_magic, version = _HEADER.unpack(header)
        if found_magic != magic:
            return FileContents(problem="not a tripwired WAL file (its first bytes are not the magic number)")
        if version != FORMAT_VERSION:
            raise FormatVersionError(
                f"{path}: WAL format version {version}, but this tripwired reads version {FORMAT_VERSION} only; "
                "run the tripwired that wrote it, or move the state directory's wal/ aside to start without history"
            )
        start = max(offset, HEADER_SIZE)
        file.seek(start)
        return _frames(memoryview(file.read()), start)


def _frames(data: memoryview, base: int) -> FileContents:
    """The frames of `data`, which starts at byte `base` of its file (the positions reported are the file's)."""
    records: list[tuple[RecordType, memoryview]] = []
    ends: list[int] = []
    offset = 0
    while offset < len(data):
        at = base + offset
        if len(data) - offset < _FRAME.size:
            return FileContents(records, f"torn frame header at byte {at}", ends)
        length, crc = _FRAME.unpack_from(data, offset)
        body = data[offset + _FRAME.size : offset + _FRAME.size + length]
        if length == 0 or len(body) < length:
            return FileContents(records, f"frame at byte {at} claims {length} bytes, {len(body)} remain", ends)
        if zlib.crc32(body) != crc:
            return FileContents(records, f"checksum mismatch in the frame at byte {at}", ends)
        if body[0] not in _KNOWN_TYPES:
            return FileContents(records, f"unknown record type {body[0]} at byte {at}", ends)
        records.append((RecordType(body[0]), body[1:]))
        offset += _FRAME.size + length
        ends.append(base + offset)
    return FileContents(records, None, ends)
