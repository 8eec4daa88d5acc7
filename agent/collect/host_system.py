"""What the host collector reads from system calls and /etc rather than /proc: uname(2),
os-release, the clock and its time zone, and adjtimex(2), as node_exporter 1.5's uname, os,
time and timex collectors read them.

uname and adjtimex are system calls, so (as in node_exporter) they describe the kernel the
agent runs on whatever `procfs` says; os-release is read under the rootfs path.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import time
from dataclasses import dataclass

# node_exporter's os collector: the first of these files that exists, under the rootfs path.
OS_RELEASE_FILES = ("etc/os-release", "usr/lib/os-release")

OS_INFO_KEYS = {
    "build_id": "BUILD_ID",
    "id": "ID",
    "id_like": "ID_LIKE",
    "image_id": "IMAGE_ID",
    "image_version": "IMAGE_VERSION",
    "name": "NAME",
    "pretty_name": "PRETTY_NAME",
    "variant": "VARIANT",
    "variant_id": "VARIANT_ID",
    "version": "VERSION",
    "version_codename": "VERSION_CODENAME",
    "version_id": "VERSION_ID",
}
_MAJOR_MINOR = re.compile(r"^[0-9]+\.?[0-9]*")

_UTS_LENGTH = 65  # the size of each field of struct utsname on Linux
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def uname_labels() -> dict[str, str]:
    """node_uname_info's labels from uname(2); domainname from the kernel, "(none)" when unset."""
    info = os.uname()
    return {
        "sysname": info.sysname,
        "release": info.release,
        "version": info.version,
        "machine": info.machine,
        "nodename": info.nodename,
        "domainname": _domainname(),
    }


def _domainname() -> str:
    # os.uname() leaves the NIS domain name out; glibc's getdomainname reads it from uname(2).
    buffer = ctypes.create_string_buffer(_UTS_LENGTH)
    if _libc().getdomainname(buffer, _UTS_LENGTH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"getdomainname: {os.strerror(code)}")
    return buffer.value.decode("utf-8", errors="replace")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def parse_os_release(text: str) -> dict[str, str]:
    """An os-release file's KEY=value lines, unquoted as go-envparse (node_exporter's parser) does."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip().removeprefix("export ")
        if sep and key and not key.startswith("#"):
            env[key] = _unquote(value.strip())
    return env


def _unquote(value: str) -> str:
    """Double quotes with \\\\, \\", \\n and \\t escapes, literal single quotes, `#` starts a comment."""
    out, quote, escaped, significant = "", "", False, 0
    for char in value:
        if escaped:
            out, escaped = out + _ESCAPES.get(char, char), False
        elif quote == '"' and char == "\\":
            escaped = True
            continue
        elif char == quote:
            quote = ""
            continue
        elif not quote and char in "\"'":
            quote = char
            continue
        elif not quote and char == "#":
            return out[:significant]
        else:
            out += char
        if quote or char not in " \t":
            significant = len(out)
    return out


def os_version(version_id: str) -> float:
    """node_os_version: the major.minor prefix of VERSION_ID, 0 when it has none."""
    match = _MAJOR_MINOR.match(version_id)
    return float(match.group()) if match else 0.0


def zone() -> tuple[str, float]:
    """The local time zone's abbreviation and its offset east of UTC in seconds, now."""
    local = time.localtime()
    return local.tm_zone, float(local.tm_gmtoff)


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _Timex(ctypes.Structure):
    """struct timex from <sys/timex.h> (Linux), with its trailing padding."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    )


TIME_ERROR = 5  # adjtimex's clock state when the clock is not synchronised
STA_NANO = 0x2000  # status bit: offset and jitter are in nanoseconds, not microseconds
_PPM16 = 1_000_000.0 * 65536.0  # freq, ppsfreq and stabil are ppm with a 16-bit fraction
_MICRO = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Timex:
    """One adjtimex(2) reading: the clock state it returned and the raw struct fields."""

    state: int
    fields: dict[str, int]

    def values(self) -> dict[str, float]:
        """The readings in node_exporter's units, keyed as host_metrics.TIMEX."""
        f = self.fields
        divisor = 1e9 if f["status"] & STA_NANO else _MICRO
        return {
            "sync_status": 0.0 if self.state == TIME_ERROR else 1.0,
            "offset": f["offset"] / divisor,
            "freq": 1 + f["freq"] / _PPM16,
            "maxerror": f["maxerror"] / _MICRO,
            "esterror": f["esterror"] / _MICRO,
            "status": float(f["status"]),
            "constant": float(f["constant"]),
            "tick": f["tick"] / _MICRO,
            "ppsfreq": f["ppsfreq"] / _PPM16,
            "jitter": f["jitter"] / divisor,
            "shift": float(f["shift"]),  # node_exporter exports the log2 interval as it is
            "stabil": f["stabil"] / _PPM16,
            "jitcnt": float(f["jitcnt"]),
            "calcnt": float(f["calcnt"]),
            "errcnt": float(f["errcnt"]),
            "stbcnt": float(f["stbcnt"]),
            "tai": float(f["tai"]),
        }


def adjtimex() -> Timex:
    """Read the kernel clock's discipline state (modes 0: nothing is changed, no privilege needed)."""
    timex = _Timex()
    state = _libc().adjtimex(ctypes.byref(timex))
    if state == -1:
        code = ctypes.get_errno()
        raise OSError(code, f"adjtimex: {os.strerror(code)}")
    names = (name for name, _ in _Timex._fields_ if name not in ("modes", "time", "_padding"))
    return Timex(int(state), {name: int(getattr(timex, name)) for name in names})
