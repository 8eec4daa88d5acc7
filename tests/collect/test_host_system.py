"""host_system: os-release parsing as go-envparse does, and adjtimex(2) readings in node_exporter's units."""

from __future__ import annotations

import os

import pytest

from agent.collect import host_system

DEBIAN_12 = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


def test_os_release_unquotes_values() -> None:
    release = host_system.parse_os_release(DEBIAN_12)

    assert release["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert release["VERSION_CODENAME"] == "bookworm"
    assert release["ID"] == "debian"


def test_os_release_escapes_single_quotes_comments_and_export() -> None:
    text = 'A="say \\"hi\\"" # note\nB=plain value   # note\nC=\'lit\\n\'\n# a comment\nexport D=1\n\n'

    assert host_system.parse_os_release(text) == {"A": 'say "hi"', "B": "plain value", "C": "lit\\n", "D": "1"}


@pytest.mark.parametrize(
    ("version_id", "expected"), [("12", 12.0), ("22.04", 22.04), ("3.18.4", 3.18), ("rolling", 0.0), ("", 0.0)]
)
def test_os_version_is_the_major_minor_prefix(version_id: str, expected: float) -> None:
    assert host_system.os_version(version_id) == expected


def test_uname_labels_are_the_kernels() -> None:
    labels = host_system.uname_labels()

    assert labels["nodename"] == os.uname().nodename
    assert labels["release"] == os.uname().release
    assert labels["domainname"]  # "(none)" when unset, as the kernel reports it


def _timex(**fields: int) -> host_system.Timex:
    names = ("offset", "freq", "maxerror", "esterror", "status", "constant", "precision", "tolerance", "tick")
    names += ("ppsfreq", "jitter", "shift", "stabil", "jitcnt", "calcnt", "errcnt", "stbcnt", "tai")
    return host_system.Timex(0, dict.fromkeys(names, 0) | fields)


def test_timex_offset_in_microseconds_unless_sta_nano() -> None:
    micro = _timex(offset=1500, jitter=20).values()
    nano = _timex(offset=1500, jitter=20, status=host_system.STA_NANO).values()

    assert (micro["offset"], micro["jitter"]) == (0.0015, 0.00002)
    assert (nano["offset"], nano["jitter"]) == (0.0000015, 0.00000002)


def test_timex_frequency_is_a_ratio_from_scaled_ppm() -> None:
    values = _timex(freq=65536 * 10, ppsfreq=65536 * 2, stabil=65536).values()

    assert values["freq"] == pytest.approx(1.00001)
    assert values["ppsfreq"] == pytest.approx(0.000002)
    assert values["stabil"] == pytest.approx(0.000001)


def test_timex_errors_and_tick_in_seconds() -> None:
    values = _timex(maxerror=16_000_000, esterror=250, tick=10_000).values()

    assert (values["maxerror"], values["esterror"], values["tick"]) == (16.0, 0.00025, 0.01)


def test_timex_sync_status_is_zero_only_for_time_error() -> None:
    assert host_system.Timex(host_system.TIME_ERROR, _timex().fields).values()["sync_status"] == 0.0
    assert host_system.Timex(1, _timex().fields).values()["sync_status"] == 1.0  # TIME_INS: synchronised


def test_adjtimex_reads_this_kernel_without_privilege() -> None:
    reading = host_system.adjtimex()

    assert 0 <= reading.state <= host_system.TIME_ERROR
    assert reading.values()["tick"] > 0
