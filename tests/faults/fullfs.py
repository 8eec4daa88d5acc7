"""A real, small filesystem that a test can fill to the last byte and free again.

A tmpfs of a few MiB mounted on a directory of the test (CI runs as root, as `mount` needs):
`fill()` writes a filler file until the kernel answers ENOSPC, `free()` deletes it. Use it for
any state that must survive a full disk (the outbox, the WAL):

    with small_filesystem(tmp_path / "state") as fs:
        ... start the daemon with state_dir = fs.path ...
        fs.fill()
        ... the daemon meets ENOSPC ...
        fs.free()
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

FILLER = ".filler"
_CHUNK = 64 * 1024


@dataclass
class SmallFilesystem:
    """A mounted tmpfs: its mount point, and how to fill and free it."""

    path: Path

    def fill(self) -> int:
        """Write until no byte is left; the bytes written."""
        written = 0
        with (self.path / FILLER).open("ab", buffering=0) as f:
            for size in (_CHUNK, 4096, 512, 1):
                written += _write_until_full(f.fileno(), size)
        return written

    def free(self) -> None:
        """Delete the filler: the space is back."""
        (self.path / FILLER).unlink(missing_ok=True)

    def available_bytes(self) -> int:
        return shutil.disk_usage(self.path).free


def _write_until_full(fd: int, size: int) -> int:
    block, written = b"\0" * size, 0
    while True:
        try:
            written += os.write(fd, block)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            return written


@contextmanager
def small_filesystem(path: Path, size: str = "4m", inodes: int | None = None) -> Iterator[SmallFilesystem]:
    """Mount a tmpfs of `size` (and `inodes` files, if given) on `path` (created) for the duration;
    fails, never skips, without root."""
    if os.geteuid() != 0:
        pytest.fail("mounting a small tmpfs needs root (CI runs the fault suite as root)")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + ("" if inodes is None else f",nr_inodes={inodes}")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield SmallFilesystem(path)
    finally:
        with suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "--lazy", str(path)], check=True)
