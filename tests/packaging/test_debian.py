"""packaging/debian/build-deb: the .deb builds, passes lintian, installs with dpkg, runs, and goes away.

The tests install the package on this machine (they run as root, as `make test` does on the
project's machines) and purge it at the end. systemd is not PID 1 here, so the maintainer
scripts skip starting the service (as they do in any container or chroot) and the service
start is emulated: the unit's ExecStart run as its User= in its StateDirectory=.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import __version__
from tests.conftest import REPO, free_port, require_binary, wait_for_http

BUILD = REPO / "packaging" / "debian" / "build-deb"
PREFIX = Path("/opt/tripwired")
UNIT = Path("/lib/systemd/system/tripwired.service")
STATE_DIR = Path("/var/lib/tripwired")
ETC = Path("/etc/tripwired")
# Several test runs may share a machine: one at a time installs the package.
INSTALL_LOCK = Path("/tmp/tripwired-deb-test.lock")
DPKG_LOCK_WAIT_SECONDS = 120.0
# Building the package installs tripwired and its dependencies into a fresh virtual environment:
# ~1-2 minutes on a quiet machine, more than 5 under a loaded one. A guard against a hang, not a
# speed assertion.
BUILD_TIMEOUT_SECONDS = 900
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_SECONDS + 300)


def run(*command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT_SECONDS
    )
    if check and result.returncode != 0:
        shown = shlex.join(str(c) for c in command)
        pytest.fail(f"{shown} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def dpkg(*args: str | Path) -> None:
    """dpkg, waiting while another package manager (apt in another shell) holds dpkg's lock."""
    deadline = time.monotonic() + DPKG_LOCK_WAIT_SECONDS
    while True:
        result = run("dpkg", *args, check=False)
        if result.returncode == 0:
            return
        if "lock" not in result.stderr or time.monotonic() > deadline:
            pytest.fail(f"dpkg {shlex.join(str(a) for a in args)} exited {result.returncode}:\n{result.stderr}")
        time.sleep(1)


def is_installed() -> bool:
    status = run("dpkg-query", "-W", "-f=${Status}", "tripwired", check=False).stdout
    return status.startswith("install ")


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_binary("dpkg-deb", "dpkg")
    built = run(BUILD, tmp_path_factory.mktemp("deb")).stdout.strip().splitlines()[-1]
    return Path(built)


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("dpkg -i needs root: run the tests as root (make test does on the project's machines)")
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dpkg("-i", deb)
        yield deb
        if is_installed() or ETC.exists():
            dpkg("--purge", "tripwired")


def field(deb: Path, name: str) -> str:
    return run("dpkg-deb", "--field", deb, name).stdout.strip()


def test_package_is_named_and_versioned_after_the_project(deb: Path) -> None:
    arch = run("dpkg", "--print-architecture").stdout.strip()
    assert ("tripwired", f"{__version__}-1", arch) == (
        field(deb, "Package"),
        field(deb, "Version"),
        field(deb, "Architecture"),
    )


def test_package_ships_the_repository_unit_config_and_rule_packs(deb: Path, tmp_path: Path) -> None:
    run("dpkg-deb", "-x", deb, tmp_path)
    [site_packages] = (tmp_path / "opt" / "tripwired" / "lib").glob("python3*/site-packages")
    packs = sorted(p.relative_to(REPO) for p in (REPO / "agent" / "packs").rglob("*.yaml"))
    pairs = [
        ("systemd/tripwired.service", "lib/systemd/system/tripwired.service"),
        ("packaging/tripwired.yaml", "etc/tripwired/tripwired.yaml"),
    ]
    pairs += [(str(p), str((site_packages / p).relative_to(tmp_path))) for p in packs]  # the packs and their tests
    assert len(pairs) > 2 and all((tmp_path / shipped).is_file() for _, shipped in pairs)
    assert [] == [ours for ours, shipped in pairs if (REPO / ours).read_bytes() != (tmp_path / shipped).read_bytes()]


def test_everything_under_etc_is_a_conffile(deb: Path, tmp_path: Path) -> None:
    run("dpkg-deb", "-x", deb, tmp_path / "root")
    run("dpkg-deb", "-e", deb, tmp_path / "control")
    under_etc = sorted(
        f"/{p.relative_to(tmp_path / 'root')}" for p in (tmp_path / "root" / "etc").rglob("*") if p.is_file()
    )
    assert under_etc == sorted((tmp_path / "control" / "conffiles").read_text().split())


def test_lintian_reports_no_errors_or_warnings(deb: Path) -> None:
    lintian = require_binary("lintian", "lintian")
    result = run(lintian, "--fail-on", "error,warning", deb, check=False)
    tags = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert (0, []) == (result.returncode, tags), result.stdout + result.stderr


def test_installed_program_prints_its_version(installed: Path) -> None:
    assert f"tripwired {__version__}" == run(PREFIX / "bin" / "tripwired", "--version").stdout.strip()


def test_install_creates_an_unprivileged_system_user(installed: Path) -> None:
    user = pwd.getpwnam("tripwired")
    assert (True, str(STATE_DIR), "/usr/sbin/nologin") == (0 < user.pw_uid < 1000, user.pw_dir, user.pw_shell)


def test_installed_unit_passes_systemd_analyze_verify(installed: Path) -> None:
    analyze = require_binary("systemd-analyze", "systemd")
    result = run(analyze, "verify", UNIT, check=False)
    assert (0, "") == (result.returncode, result.stdout + result.stderr)


def test_installed_service_command_serves_as_the_service_user(installed: Path) -> None:
    user = pwd.getpwnam("tripwired")
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    STATE_DIR.mkdir(mode=0o750)  # what StateDirectory=tripwired does before ExecStart
    os.chown(STATE_DIR, user.pw_uid, user.pw_gid)
    exec_start = next(line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart="))
    port = free_port()
    command = [*shlex.split(exec_start.removeprefix("ExecStart=")), f"--web.listen-address=127.0.0.1:{port}"]
    setpriv = require_binary("setpriv", "util-linux")
    daemon = subprocess.Popen(
        [setpriv, "--reuid=tripwired", "--regid=tripwired", "--init-groups", "--", *command],
        cwd=STATE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/-/ready")
        served = True
    except AssertionError:
        served = False
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, errors = daemon.communicate(timeout=30)
    assert (True, 0, True) == (served, daemon.returncode, (STATE_DIR / "tripwired.db").is_file()), errors.decode()


def test_remove_deletes_the_program_and_keeps_the_config(installed: Path) -> None:
    # Runs after the tests above (pytest keeps file order): it removes what they used.
    dpkg("-r", "tripwired")
    assert (False, True) == (PREFIX.exists(), (ETC / "tripwired.yaml").is_file())


def test_purge_deletes_config_and_state(installed: Path) -> None:
    dpkg("--purge", "tripwired")
    assert (False, False, False) == (is_installed(), ETC.exists(), STATE_DIR.exists())
