"""Small helpers the fault tests share to read a real daemon: its /metrics and its memory."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DaemonProcess

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(daemon: DaemonProcess) -> Scrape:
    """Every sample of the daemon's /metrics, by name and label set."""
    text = daemon.get("/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Scrape, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def peak_rss_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")
