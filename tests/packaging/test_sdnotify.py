"""sd_notify against a real AF_UNIX datagram socket, as systemd's manager listens on one."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.runtime.sdnotify import SdNotifier, notify_lifecycle, watchdog_loop


class NotifySocket:
    """The receiving end: what systemd would read from $NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # systemd reads the sender's pid so
        self.sock.bind(address)
        self.sock.settimeout(5.0)

    def receive(self) -> list[str]:
        return self.sock.recv(4096).decode().split("\n")

    def receive_with_pid(self) -> tuple[list[str], int]:
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        creds = next(d for level, kind, d in ancillary if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS)
        pid, _, _ = struct.unpack("3i", creds[:12])
        return data.decode().split("\n"), pid

    def pending(self) -> list[list[str]]:
        messages = []
        self.sock.setblocking(False)
        try:
            while True:
                messages.append(self.sock.recv(4096).decode().split("\n"))
        except BlockingIOError:
            return messages
        finally:
            self.sock.settimeout(5.0)


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    # A short directory: AF_UNIX paths are limited to 107 bytes, pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="sdn-")
    receiver = NotifySocket(os.path.join(directory, "notify"))
    yield receiver
    receiver.sock.close()
    shutil.rmtree(directory)


def notifier_for(receiver: NotifySocket, **env: str) -> SdNotifier:
    return SdNotifier.from_env({"NOTIFY_SOCKET": receiver.address, **env}, pid=os.getpid())


def test_without_notify_socket_every_call_is_a_noop() -> None:
    notifier = SdNotifier.from_env({}, pid=os.getpid())
    assert (False, False, None) == (notifier.ready(), notifier.watchdog(), notifier.watchdog_interval())


def test_ready_sends_ready_and_status_in_one_datagram(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).ready("collecting: 2 collectors")
    assert ["READY=1", "STATUS=collecting: 2 collectors"] == notify_socket.receive()


def test_datagrams_carry_the_sending_process_id(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).stopping()
    assert (["STOPPING=1"], os.getpid()) == notify_socket.receive_with_pid()  # NotifyAccess=main checks it


def test_abstract_socket_name_is_reached() -> None:
    name = f"@tripwired-test-{os.getpid()}"
    receiver = NotifySocket("\0" + name[1:])
    try:
        SdNotifier.from_env({"NOTIFY_SOCKET": name}, pid=os.getpid()).watchdog()
        assert ["WATCHDOG=1"] == receiver.receive()
    finally:
        receiver.sock.close()


def test_status_text_with_newlines_stays_one_assignment(notify_socket: NotifySocket) -> None:
    notifier_for(notify_socket).status("reload failed:\nrules.yaml:3: bad")
    assert ["STATUS=reload failed: rules.yaml:3: bad"] == notify_socket.receive()


def test_send_to_a_vanished_socket_returns_false(notify_socket: NotifySocket) -> None:
    notifier = notifier_for(notify_socket)
    Path(notify_socket.address).unlink()
    assert notifier.status("nobody listens") is False


def test_watchdog_interval_is_half_of_watchdog_usec(notify_socket: NotifySocket) -> None:
    notifier = notifier_for(notify_socket, WATCHDOG_USEC="30000000", WATCHDOG_PID=str(os.getpid()))
    assert 15.0 == notifier.watchdog_interval()


def test_watchdog_meant_for_another_process_is_off(notify_socket: NotifySocket) -> None:
    notifier = notifier_for(notify_socket, WATCHDOG_USEC="30000000", WATCHDOG_PID=str(os.getpid() + 1))
    assert notifier.watchdog_interval() is None


def test_watchdog_loop_pings_until_stopped(notify_socket: NotifySocket) -> None:
    notifier = notifier_for(notify_socket, WATCHDOG_USEC="100000")  # a ping every 50 ms

    async def run_for(seconds: float) -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await watchdog_loop(notifier, stop)

    asyncio.run(run_for(0.28))  # about 6 pings; a loaded machine may run late, never in a tight loop
    pings = notify_socket.pending()
    assert 3 <= len(pings) <= 7 and all(["WATCHDOG=1"] == ping for ping in pings)


def test_lifecycle_sends_ready_once_ready_then_stopping(notify_socket: NotifySocket) -> None:
    notifier = notifier_for(notify_socket)

    async def scenario() -> list[list[str]]:
        ready, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(notify_lifecycle(notifier, ready=ready, stop=stop, describe=lambda: "ok"))
        await asyncio.sleep(0.05)
        before_ready = notify_socket.pending()
        ready.set()
        await asyncio.sleep(0.05)
        stop.set()
        await task
        return [*before_ready, *notify_socket.pending()]

    assert [["READY=1", "STATUS=ok"], ["STOPPING=1"]] == asyncio.run(scenario())


def test_lifecycle_stopped_before_ready_never_sends_ready(notify_socket: NotifySocket) -> None:
    notifier = notifier_for(notify_socket)

    async def scenario() -> None:
        stop = asyncio.Event()
        stop.set()
        await notify_lifecycle(notifier, ready=asyncio.Event(), stop=stop, describe=lambda: "ok")

    asyncio.run(scenario())
    assert [["STOPPING=1"]] == notify_socket.pending()
