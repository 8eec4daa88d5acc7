"""The awesome-prometheus-alerts node_exporter rules, loaded unchanged, fire in tripwired exactly
when they fire in a real Prometheus 2.42 scraping a real node_exporter 1.5.

Both read one fake host the test writes and changes: a procfs tree whose counters a thread
advances at set rates (CPU modes, page faults, disk and network counters), meminfo, mounts and
conntrack files, an os-release under a rootfs, and a real 4 MiB tmpfs of 64 inodes mounted as
that host's /data (mounting needs root, as tests/faults/fullfs.py says). Prometheus scrapes
node_exporter every second and evaluates tests/data/awesome-prometheus-alerts/node-exporter.yml
every second; tripwired collects every second with the same file, `promql_compat: "2"`.
Alerts are compared by name, state and labels, leaving out job and instance (Prometheus adds
them to what it scrapes; the agent adds its own).

First the host is healthy: both sides agree, and no rule provoked later is active on either.
Then everything goes wrong at once, and both sides must agree on the same alerts, every
provoked one among them. Rules with a long `for` are compared in their pending state (the
same moment, the same labels): waiting two minutes or a week to see them fire would test
only the `for` clock, which tests/integration/test_rules_daemon.py covers. Finally each
rule's expression is queried through /api/v1/query on both and the result label sets compared.

Provoked here (23 of 38): HostOutOfMemory, HostMemoryUnderMemoryPressure,
HostUnusualNetworkThroughputIn, HostUnusualNetworkThroughputOut, HostUnusualDiskReadRate,
HostUnusualDiskWriteRate, HostOutOfDiskSpace, HostDiskWillFillIn24Hours, HostOutOfInodes,
HostInodesWillFillIn24Hours, HostFilesystemDeviceError (a mount whose path is gone),
HostUnusualDiskReadLatency, HostUnusualDiskWriteLatency, HostHighCpuLoad,
HostCpuStealNoisyNeighbor, HostCpuHighIowait, HostUnusualDiskIo, HostSwapIsFillingUp,
HostOomKillDetected, HostNetworkReceiveErrors, HostNetworkTransmitErrors, HostConntrackLimit,
HostNetworkInterfaceSaturated (a 1 Gb/s eth0 in the fake /sys/class/net).
Active while healthy, on both: HostMemoryIsUnderutilized (85% of memory free), and after
the change its resolution; HostContextSwitchingHigh, all along: it divides rate(x[15m]) by
rate(x[1d]), and rate() divides by the whole window while the history is minutes old, so on
a fresh Prometheus the ratio is about 96 (tripwired agrees). The counters of the broken host
advance up to ten times faster than a real one's could (FAST), for the same reason: the
thresholds must be crossed within seconds by windows that are not yet full.

From the real host, on both sides alike: HostClockSkew and HostClockNotSynchronising read
adjtimex(2), which cannot be faked without changing the machine's clock (CAP_SYS_TIME): they
are compared as they stand on the test machine (on an unsynchronised VM the second one is
pending on both; on a synchronised one neither is active).

Not provoked: HostCpuIsUnderutilized needs a 30 minute idle rate above 80% (30 minutes of history),
which would hide HostHighCpuLoad (its expression is still compared); HostKernelVersionDeviations
needs two hosts of different kernels. Never fire on either side because tripwired does not
collect their families (nor does the node_exporter here, run with the collectors
HostCollector replaces): HostSystemdServiceCrashed (systemd), HostPhysicalComponentTooHot and
HostNodeOvertemperatureAlarm (hwmon), HostRaidArrayGotInactive and HostRaidDiskFailure (md),
HostEdacCorrectableErrorsDetected and HostEdacUncorrectableErrorsDetected (edac),
HostNetworkBondDegraded (bonding), HostRequiresReboot (a textfile metric).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agent.config.schema import HostConfig
from tests.conftest import DaemonProcess, StartDaemon
from tests.faults.fullfs import SmallFilesystem, small_filesystem
from tests.node_exporter_peer import running_node_exporter
from tests.prometheus_peer import running_prometheus

RULES = Path(__file__).parent.parent / "data" / "awesome-prometheus-alerts" / "node-exporter.yml"

PROVOKED = frozenset(
    {
        "HostOutOfMemory",
        "HostMemoryUnderMemoryPressure",
        "HostUnusualNetworkThroughputIn",
        "HostUnusualNetworkThroughputOut",
        "HostUnusualDiskReadRate",
        "HostUnusualDiskWriteRate",
        "HostOutOfDiskSpace",
        "HostDiskWillFillIn24Hours",
        "HostOutOfInodes",
        "HostInodesWillFillIn24Hours",
        "HostFilesystemDeviceError",
        "HostUnusualDiskReadLatency",
        "HostUnusualDiskWriteLatency",
        "HostHighCpuLoad",
        "HostCpuStealNoisyNeighbor",
        "HostCpuHighIowait",
        "HostUnusualDiskIo",
        "HostSwapIsFillingUp",
        "HostOomKillDetected",
        "HostNetworkReceiveErrors",
        "HostNetworkTransmitErrors",
        "HostConntrackLimit",
        "HostNetworkInterfaceSaturated",
    }
)
HEALTHY_ONLY = frozenset({"HostMemoryIsUnderutilized"})  # 85% of memory free, then 5%
# rate(x[15m]) / rate(x[1d]) divides by each whole window while the history is minutes old.
ALWAYS = frozenset({"HostContextSwitchingHigh"})
# Scraped and evaluated every second, the provoked conditions hold within seconds (see FAST);
# HostOomKillDetected (increase over 1m) must still be active when everything else is.
DEADLINE_SECONDS = 80.0

GiB = 2**30
CPUS = ("0", "1")
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

# Per second, per CPU: the seconds spent in each mode (the rest stay still).
HEALTHY_CPU = {"user": 0.20, "system": 0.05, "iowait": 0.01, "idle": 0.74}
# Ten seconds a second: see FAST below.
BUSY_CPU = {"user": 3.0, "system": 1.0, "iowait": 3.0, "steal": 3.0}
# Per second: vmstat, diskstats (sectors of 512 bytes, milliseconds) and net/dev counters.
HEALTHY_RATES = {
    "ctxt": 2000.0,
    "intr": 1000.0,
    "processes": 5.0,
    "pgfault": 1000.0,
    "pgmajfault": 10.0,
    "reads": 50.0,
    "read_sectors": 400.0,
    "read_ms": 50.0,
    "writes": 50.0,
    "write_sectors": 400.0,
    "write_ms": 50.0,
    "io_ms": 100.0,
    "rx_bytes": 2**20,
    "rx_packets": 1000.0,
    "rx_errs": 0.0,
    "tx_bytes": 2**20,
    "tx_packets": 1000.0,
    "tx_errs": 0.0,
}
# FAST: rate() over a window not yet full of samples divides the increase by the whole window
# (Prometheus extrapolates only half a scrape interval past the samples), so a host whose history
# is seconds old must count ten times faster than the thresholds to cross them within seconds.
FAST = 10
BAD_RATES = HEALTHY_RATES | {
    "pgmajfault": FAST * 1000.0,  # > 1000/s: memory pressure
    "reads": 200.0,
    "read_sectors": FAST * 50 * 2**20 / 512,  # > 50 MiB/s
    "read_ms": 200.0 * 200,  # 200 ms a read > 100
    "writes": 200.0,
    "write_sectors": FAST * 50 * 2**20 / 512,
    "write_ms": 200.0 * 200,
    "io_ms": FAST * 500.0,  # > half of the time busy
    "rx_bytes": FAST * 100 * 2**20,  # > 100 MiB/s
    "rx_packets": 100_000.0,
    "rx_errs": 5000.0,  # 5% of packets > 1%
    "tx_bytes": FAST * 100 * 2**20,
    "tx_packets": 100_000.0,
    "tx_errs": 5000.0,
}


@dataclass
class FakeHost:
    """A procfs, sysfs and rootfs tree for one host; a thread advances its counters in real time."""

    root: Path
    data: SmallFilesystem
    cpu_rates: dict[str, float] = field(default_factory=lambda: dict(HEALTHY_CPU))
    rates: dict[str, float] = field(default_factory=lambda: dict(HEALTHY_RATES))
    mem_available_ratio: float = 0.85
    swap_free_ratio: float = 1.0
    conntrack_entries: int = 1000
    oom_kills: int = 0
    gone_mount: bool = False
    _cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CPU_MODES, 100.0))
    _counters: dict[str, float] = field(default_factory=lambda: dict.fromkeys(HEALTHY_RATES, 1000.0))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def config(self) -> HostConfig:
        """The host collector's paths to this tree."""
        return HostConfig(procfs=str(self.proc), sysfs=str(self.root / "sys"), rootfs=str(self.rootfs))

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    def change(self, **changes: Any) -> None:
        """Set attributes (rates, ratios, flags) under the lock and write the files at once."""
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)
            self._write()

    def run(self) -> None:
        """Advance the counters by their rates every 0.2 s until stopped."""
        last = time.monotonic()
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                for mode, rate in self.cpu_rates.items():
                    self._cpu[mode] += rate * (now - last)
                for name, rate in self.rates.items():
                    self._counters[name] += rate * (now - last)
                self._write()
            last = now

    def stop(self) -> None:
        """Make `run` return."""
        self._stop.set()

    def use_every_inode(self) -> None:
        """Create empty files on /data until the tmpfs has no inode left."""
        for number in itertools.count():
            try:
                (self.data.path / f"inode-{number}").touch()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return

    def _write(self) -> None:
        files = {
            "stat": self._stat(),
            "meminfo": self._meminfo(),
            "vmstat": self._vmstat(),
            "loadavg": "0.50 0.40 0.30 2/300 4242\n",
            "diskstats": self._diskstats(),
            "net/dev": self._net_dev(),
            "sys/fs/file-nr": "1024\t0\t100000\n",
            "1/mounts": self._mounts(),
            "sys/net/netfilter/nf_conntrack_count": f"{self.conntrack_entries}\n",
            "sys/net/netfilter/nf_conntrack_max": "262144\n",
            "net/stat/nf_conntrack": CONNTRACK_STAT,
        }
        for name, text in files.items():
            _replace(self.proc / name, text)

    def _stat(self) -> str:
        ticks = " ".join(str(round(self._cpu[mode] * 100)) for mode in CPU_MODES)
        total = " ".join(str(round(self._cpu[mode] * 100 * len(CPUS))) for mode in CPU_MODES)
        c = {name: round(value) for name, value in self._counters.items()}
        return (
            f"cpu  {total} 0 0\n"
            + "".join(f"cpu{cpu} {ticks} 0 0\n" for cpu in CPUS)
            + f"intr {c['intr']} 0 0\nctxt {c['ctxt']}\nbtime 1700000000\nprocesses {c['processes']}\n"
            + "procs_running 2\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
        )

    def _meminfo(self) -> str:
        kib = {
            "MemTotal": 8 * GiB,
            "MemFree": self.mem_available_ratio * 8 * GiB * 0.8,
            "MemAvailable": self.mem_available_ratio * 8 * GiB,
            "Buffers": 64 * 2**20,
            "Cached": 512 * 2**20,
            "SwapTotal": 2 * GiB,
            "SwapFree": self.swap_free_ratio * 2 * GiB,
        }
        return "".join(f"{name}: {round(value / 1024)} kB\n" for name, value in kib.items())

    def _vmstat(self) -> str:
        c = self._counters
        return f"pgfault {round(c['pgfault'])}\npgmajfault {round(c['pgmajfault'])}\noom_kill {self.oom_kills}\n"

    def _diskstats(self) -> str:
        c = {name: round(value) for name, value in self._counters.items()}
        fields = (c["reads"], 0, c["read_sectors"], c["read_ms"], c["writes"], 0, c["write_sectors"])
        fields += (c["write_ms"], 0, c["io_ms"], c["io_ms"])
        return " 253       0 vda " + " ".join(str(v) for v in fields) + "\n"

    def _net_dev(self) -> str:
        c = {name: round(value) for name, value in self._counters.items()}
        receive = (c["rx_bytes"], c["rx_packets"], c["rx_errs"], 0, 0, 0, 0, 0)
        transmit = (c["tx_bytes"], c["tx_packets"], c["tx_errs"], 0, 0, 0, 0, 0)
        header = "Inter-|   Receive  |  Transmit\n face |bytes packets|bytes packets\n"
        return header + "  eth0: " + " ".join(str(v) for v in receive + transmit) + "\n"

    def _mounts(self) -> str:
        # The host's view: /data is the tmpfs the test mounted under the rootfs, named as a disk.
        lines = "/dev/vda1 /data ext4 rw,relatime 0 0\n"
        if self.gone_mount:  # statfs on a path that is not there: node_filesystem_device_error 1
            lines += "/dev/vdb1 /gone ext4 rw,relatime 0 0\n"
        return lines


# The kernel's header line, then one line of zeros per CPU.
CONNTRACK_STAT = (
    "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop"
    " icmp_error  expect_new expect_create expect_delete search_restart\n"
) + ("  ".join(["00000000"] * 17) + "\n") * len(CPUS)


def _replace(path: Path, text: str) -> None:
    """Write a file whole, so that no reader sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FakeHost]:
    """The fake host, its counters advancing, its /data a real tmpfs of 4 MiB and 64 inodes."""
    rootfs = tmp_path / "host" / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "os-release").write_text('NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n')
    eth0 = tmp_path / "host" / "sys" / "class" / "net" / "eth0"
    eth0.mkdir(parents=True)
    for name, text in {"operstate": "up", "speed": "1000", "mtu": "1500", "carrier": "1"}.items():
        (eth0 / name).write_text(text + "\n")  # a 1 Gb/s link: 125 MB/s
    with small_filesystem(rootfs / "data", size="4m", inodes=64) as data:
        fake = FakeHost(tmp_path / "host", data)
        fake.change()
        ticker = threading.Thread(target=fake.run, daemon=True)
        ticker.start()
        try:
            yield fake
        finally:
            fake.stop()
            ticker.join()


Alert = tuple[str, str, frozenset[tuple[str, str]]]  # name, state, labels without job and instance
IGNORED_LABELS = {"job", "instance"}


def alerts(base_url: str) -> frozenset[Alert]:
    """The active alerts of a Prometheus or a tripwired, as comparable tuples."""
    body = httpx.get(f"{base_url}/api/v1/alerts", timeout=10.0).json()
    assert body["status"] == "success", body
    return frozenset(
        (
            alert["labels"]["alertname"],
            alert["state"],
            frozenset((k, v) for k, v in alert["labels"].items() if k not in IGNORED_LABELS),
        )
        for alert in body["data"]["alerts"]
    )


def query(base_url: str, expr: str) -> frozenset[frozenset[tuple[str, str]]]:
    """The label sets (without job and instance) of an instant query's result, evaluated now."""
    body = httpx.get(f"{base_url}/api/v1/query", params={"query": expr}, timeout=10.0).json()
    assert body["status"] == "success", (expr, body)
    return frozenset(
        frozenset((k, v) for k, v in series["metric"].items() if k not in IGNORED_LABELS)
        for series in body["data"]["result"]
    )


def names(active: frozenset[Alert]) -> set[str]:
    return {name for name, _, _ in active}


@dataclass(frozen=True)
class Sides:
    """The two evaluators: Prometheus (scraping node_exporter) and tripwired, both on the fake host."""

    prometheus: str
    tripwired: DaemonProcess

    def wait_until_agreeing(self, done: Callable[[frozenset[Alert]], bool], what: str) -> frozenset[Alert]:
        """The alerts both sides show once they show the same ones and `done` holds for them."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            theirs, ours = alerts(self.prometheus), alerts(self.tripwired.url)
            if theirs == ours and done(ours):
                return ours
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: never agreed within {DEADLINE_SECONDS:.0f}s\n"
                    f"Prometheus: {sorted(names(theirs))}\ntripwired: {sorted(names(ours))}\n"
                    f"Prometheus only: {sorted(theirs - ours)}\ntripwired only: {sorted(ours - theirs)}\n"
                    f"{self.tripwired.log()[-3000:]}"
                )
            time.sleep(0.2)

    def wait_until_same_result(self, expr: str) -> None:
        """Both sides answer `expr` with the same label sets (they evaluate it a moment apart)."""
        deadline = time.monotonic() + 10.0
        while (theirs := query(self.prometheus, expr)) != (ours := query(self.tripwired.url, expr)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr}\nPrometheus: {sorted(theirs)}\ntripwired: {sorted(ours)}")
            time.sleep(0.2)

    def both_have_rates(self) -> bool:
        """Both sides hold enough samples for the rules' rates (three scrapes at least)."""
        expr = "count_over_time(node_cpu_seconds_total[1m]) >= 3"
        return all(query(url, expr) for url in (self.prometheus, self.tripwired.url))


@pytest.fixture
def sides(host: FakeHost, tmp_path: Path, start_daemon: StartDaemon) -> Iterator[Sides]:
    """A Prometheus scraping node_exporter and a tripwired, both reading `host`, both with RULES."""
    (tmp_path / "prometheus").mkdir()
    with running_node_exporter(tmp_path, host.config) as node_exporter:
        prometheus_config = (
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{RULES}']\n"
            f"scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{node_exporter}']}}]\n"
        )
        with running_prometheus(tmp_path / "prometheus", prometheus_config) as prometheus:
            daemon = start_daemon(
                'promql_compat: "2"\n'
                "global: {interval: 1s, evaluation_interval: 1s}\n"
                f"state_dir: {tmp_path / 'state'}\nrule_files: ['{RULES}']\n",
                f"--path.procfs={host.config.procfs}",
                f"--path.sysfs={host.config.sysfs}",
                f"--path.rootfs={host.config.rootfs}",
            )
            daemon.wait_ready()
            yield Sides(prometheus, daemon)


# `git rev-parse 05cd0ab7716cf9f49cb5aa3ce0d27399d0bce0ab:dist/rules/host-and-hardware/node-exporter.yml`
# in samber/awesome-prometheus-alerts: the file as published, below our comment header.
UPSTREAM_BLOB = "a6adff1b4dddbcbd50d1cab3067c1c03a5bcd060"


def test_rules_file_is_the_vendored_one_unchanged() -> None:
    text = RULES.read_bytes()
    body = text[text.index(b"\ngroups:") + 1 :]
    rules = yaml.safe_load(body)["groups"][0]["rules"]

    assert hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest() == UPSTREAM_BLOB  # git's blob id
    assert len(rules) == 38
    assert {rule["alert"] for rule in rules} >= PROVOKED | HEALTHY_ONLY | ALWAYS


def test_same_alerts_as_prometheus_on_node_exporter_before_and_after_the_host_goes_wrong(
    host: FakeHost, sides: Sides
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not sides.both_have_rates():
        assert time.monotonic() < deadline, "no rates on both sides"
        time.sleep(0.2)
    healthy = sides.wait_until_agreeing(lambda active: HEALTHY_ONLY | ALWAYS <= names(active), "healthy host")
    assert names(healthy) & PROVOKED == set()

    host.data.fill()
    host.use_every_inode()
    host.change(
        cpu_rates=dict(BUSY_CPU),
        rates=dict(BAD_RATES),
        mem_available_ratio=0.05,
        swap_free_ratio=0.10,
        conntrack_entries=240_000,
        oom_kills=1,
        gone_mount=True,
    )

    broken = sides.wait_until_agreeing(
        lambda active: PROVOKED | ALWAYS <= names(active) and not HEALTHY_ONLY & names(active), "host gone wrong"
    )
    assert {name for name, state, _ in broken if state == "firing"} >= {
        "HostOomKillDetected",
        "HostCpuStealNoisyNeighbor",
        "HostCpuHighIowait",
    }
    labels = {name: dict(labels) for name, _, labels in broken}
    assert labels["HostOutOfDiskSpace"]["mountpoint"] == "/data"
    assert labels["HostFilesystemDeviceError"]["mountpoint"] == "/gone"
    assert labels["HostOutOfMemory"]["nodename"] == os.uname().nodename

    for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]:
        sides.wait_until_same_result(rule["expr"])
