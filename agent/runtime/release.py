"""`tripwired release mark`: annotate a release as metrics, through the textfile collector's directory.

A deployment script marks the release it just rolled out; the running agent reads the file as
any other textfile and exports `tripwired_release_info{release,version} 1` (dashboards overlay it,
as they do `*_build_info`) and `tripwired_release_timestamp_seconds`, the marker that
`tripwired verify --release NAME` ends its baseline window at. One file per release name, so
marking a new version of it replaces the old one; written to a temporary name and renamed, as
node_exporter's textfile docs ask, so the agent never reads half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from agent.export.exposition import family_header, format_value, series_prefix
from agent.model import gauge, labels_of

RELEASE_INFO = gauge("tripwired_release_info", "A release marked by `tripwired release mark`; always 1.")
RELEASE_TIMESTAMP = gauge(
    "tripwired_release_timestamp_seconds", "When the release was marked by `tripwired release mark`, Unix seconds."
)
RELEASE_METRICS = (RELEASE_INFO, RELEASE_TIMESTAMP)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def release_text(name: str, version: str, at: float) -> str:
    """The textfile of a release: both metrics, labelled with the release's name and version."""
    labels = labels_of(release=name, version=version)
    return "".join(
        f"{family_header(meta)}{series_prefix(meta.name, labels)}{format_value(value)}\n"
        for meta, value in ((RELEASE_INFO, 1.0), (RELEASE_TIMESTAMP, at))
    )


def release_file(directory: Path, name: str) -> Path:
    """Where the release's textfile lives; ValueError for a name that is no safe file name."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid release name {name!r}: use letters, digits, '_', '.' and '-' (at most 128)")
    return directory / f"tripwired_release_{name}.prom"


def mark_release(directory: Path, name: str, version: str, at: float) -> Path:
    """Write the release's textfile atomically (temporary file, fsync, rename); the path written."""
    path = release_file(directory, name)
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"  # not *.prom: the collector skips it
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(release_text(name, version, at))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path
