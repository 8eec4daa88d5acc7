"""A bounded walk of a directory tree that totals its files without holding their entries.

The walk is depth first over a stack of open directory iterators, so memory grows with
the depth of the tree (one open directory each), never with the number of files, and
one directory with a million files streams through a single iterator. It stops at a
deadline and says so (`partial`), keeping what it saw.

Directories are identified by (st_dev, st_ino). Without `follow_symlinks`, a loop can
only come from a bind mount of an ancestor, so the open ancestors are enough to stop it.
With `follow_symlinks`, every directory entered is remembered, because two symlinks to
one directory would otherwise count its files twice; that set grows with the number of
directories (not files), and only in that mode.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

PERMISSION_DENIED = "permission_denied"
VANISHED = "vanished"
TIMEOUT = "timeout"
IO_ERROR = "io_error"
ERROR_REASONS = (PERMISSION_DENIED, VANISHED, TIMEOUT, IO_ERROR)


class DirListing(Protocol):
    """What os.scandir returns: an iterator of entries that can be closed early."""

    def __iter__(self) -> Iterator[os.DirEntry[str]]: ...

    def __next__(self) -> os.DirEntry[str]: ...

    def close(self) -> None:
        """Stop listing and release the directory handle."""


ListDir = Callable[[str], DirListing]
DirKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class WalkOptions:
    """What to count: globs on paths relative to the root (`*` also matches `/`), and which links to cross."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    follow_symlinks: bool = False
    cross_filesystems: bool = False


@dataclass(slots=True)
class PathTotals:
    """What one walk saw: regular files, their bytes and modification times, and its errors."""

    size_bytes: int = 0
    files: int = 0
    oldest_mtime: float | None = None
    newest_mtime: float | None = None
    partial: bool = False
    root_found: bool = True
    errors: Counter[str] = field(default_factory=Counter)

    def add_file(self, size: int, mtime: float) -> None:
        """Count one regular file of `size` bytes modified at `mtime` (seconds since the epoch)."""
        self.size_bytes += size
        self.files += 1
        if self.oldest_mtime is None or mtime < self.oldest_mtime:
            self.oldest_mtime = mtime
        if self.newest_mtime is None or mtime > self.newest_mtime:
            self.newest_mtime = mtime


def error_reason(exc: OSError) -> str:
    """The `reason` label for an error met during a walk."""
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if isinstance(exc, FileNotFoundError | NotADirectoryError) or exc.errno == errno.ESTALE:
        return VANISHED  # removed (or replaced by a file) between listing and looking
    return IO_ERROR


def walk(
    root: str,
    options: WalkOptions,
    deadline: float,
    monotonic: Callable[[], float],
    list_dir: ListDir = os.scandir,
) -> PathTotals:
    """Total the files under `root` until done or until `monotonic()` reaches `deadline`."""
    walker = _Walker(options, list_dir)
    try:
        walker.start(root)
        while walker.has_work():
            if monotonic() >= deadline:
                walker.totals.partial = True
                walker.totals.errors[TIMEOUT] += 1
                break
            walker.step()
    finally:
        walker.close()
    return walker.totals


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(slots=True)
class _Frame:
    listing: DirListing
    prefix: str  # relative path of the directory, with a trailing "/" unless it is the root
    key: DirKey


class _Walker:
    """The state of one walk: open directories, directories seen, totals."""

    def __init__(self, options: WalkOptions, list_dir: ListDir) -> None:
        self.totals = PathTotals()
        self._follow = options.follow_symlinks
        self._cross = options.cross_filesystems
        self._include = _compile(options.include)
        self._exclude = _compile(options.exclude)
        self._list_dir = list_dir
        self._stack: list[_Frame] = []
        self._open: set[DirKey] = set()
        self._visited: set[DirKey] = set()
        self._root_dev = 0

    def start(self, root: str) -> None:
        try:
            st = os.stat(root)  # the configured path itself is always followed
        except OSError as exc:
            self.totals.errors[error_reason(exc)] += 1
            self.totals.root_found = False
            return
        self._root_dev = st.st_dev
        self._push(root, "", (st.st_dev, st.st_ino))

    def has_work(self) -> bool:
        return bool(self._stack)

    def step(self) -> None:
        """Look at the next entry of the innermost open directory."""
        frame = self._stack[-1]
        try:
            entry = next(frame.listing)
        except StopIteration:
            self._pop()
            return
        except OSError as exc:  # the directory went away while being read
            self.totals.errors[error_reason(exc)] += 1
            self._pop()
            return
        try:
            self._visit(entry, frame.prefix)
        except OSError as exc:
            # A symlink that resolves to itself is a broken link, ignored like a dangling one.
            if exc.errno != errno.ELOOP:
                self.totals.errors[error_reason(exc)] += 1

    def close(self) -> None:
        while self._stack:
            self._pop()

    def _visit(self, entry: os.DirEntry[str], prefix: str) -> None:
        follow = self._follow
        if entry.is_dir(follow_symlinks=follow):
            self._enter(entry, prefix + entry.name)
        elif entry.is_file(follow_symlinks=follow) and self._selected(prefix + entry.name):
            st = entry.stat(follow_symlinks=follow)
            self.totals.add_file(st.st_size, st.st_mtime)

    def _selected(self, relative: str) -> bool:
        if self._exclude is not None and self._exclude.match(relative):
            return False
        return self._include is None or self._include.match(relative) is not None

    def _enter(self, entry: os.DirEntry[str], relative: str) -> None:
        if self._exclude is not None and self._exclude.match(relative):
            return
        st = entry.stat(follow_symlinks=self._follow)
        if st.st_dev != self._root_dev and not self._cross:
            return
        key = (st.st_dev, st.st_ino)
        if key in self._open or key in self._visited:
            return
        self._push(entry.path, relative + "/", key)

    def _push(self, path: str, prefix: str, key: DirKey) -> None:
        try:
            listing = self._list_dir(path)
        except OSError as exc:
            self.totals.errors[error_reason(exc)] += 1
            return
        self._stack.append(_Frame(listing, prefix, key))
        self._open.add(key)
        if self._follow:
            self._visited.add(key)

    def _pop(self) -> None:
        frame = self._stack.pop()
        self._open.discard(frame.key)
        frame.listing.close()
