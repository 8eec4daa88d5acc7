"""systemd's service notification protocol (sd_notify(3)), spoken over a datagram socket.

Under `Type=notify` systemd passes `$NOTIFY_SOCKET`: a filesystem path, or an abstract
socket name written with a leading `@`. Each message is one datagram of `KEY=VALUE` lines.
With `WatchdogSec=` systemd also passes `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, the process
that must ping) and restarts the service when no `WATCHDOG=1` arrives within that time.

Outside systemd (no `$NOTIFY_SOCKET`) every call is a no-op, so the daemon calls these
unconditionally. A send never blocks the event loop and never raises: a notification that
cannot be delivered is logged once and dropped, as libsystemd's sd_notify drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger()


def socket_address(value: str) -> str | None:
    """The address to send to: a path as given, `@name` as the abstract name `\\0name`; None if unusable."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # systemd >= 254 also knows `vsock:CID:PORT`; a host agent never runs inside a VM's vsock


def watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    """$WATCHDOG_USEC when it is meant for process `pid` (sd_watchdog_enabled(3)), else None."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
        owner = int(environ.get("WATCHDOG_PID", str(pid)))
    except ValueError:
        return None
    return usec if usec > 0 and owner == pid else None


class SdNotifier:
    """Tells systemd about the service's state; a no-op without a notify socket."""

    def __init__(self, address: str | None = None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._failed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, pid: int | None = None) -> SdNotifier:
        """The notifier systemd's environment asks for ($NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID)."""
        environ = os.environ if environ is None else environ
        pid = os.getpid() if pid is None else pid
        raw = environ.get("NOTIFY_SOCKET", "")
        address = socket_address(raw) if raw else None
        if raw and address is None:
            log.warning("sd_notify_socket_unsupported", notify_socket=raw)
        return cls(address, watchdog_usec(environ, pid) if address else None)

    @property
    def enabled(self) -> bool:
        """Whether systemd asked for notifications ($NOTIFY_SOCKET was set and usable)."""
        return self.address is not None

    def notify(self, *assignments: str) -> bool:
        """Send `KEY=VALUE` lines in one datagram; True if the socket took it."""
        if self.address is None:
            return False
        message = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # a full receive queue drops the message instead of stalling the loop
                sock.connect(self.address)
                sock.send(message)
        except OSError as exc:
            if not self._failed:
                log.warning("sd_notify_failed", notify_socket=self.address.replace("\0", "@"), error=str(exc))
            self._failed = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: start-up is complete (systemd's `Type=notify` start job finishes here)."""
        return self.notify("READY=1", *([_status_line(status)] if status is not None else []))

    def status(self, text: str) -> bool:
        """STATUS=: one line shown by `systemctl status`."""
        return self.notify(_status_line(text))

    def stopping(self) -> bool:
        """STOPPING=1: shutdown has begun."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the keep-alive ping; systemd restarts the service when pings stop."""
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; None if off."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000


def _status_line(text: str) -> str:
    return "STATUS=" + " ".join(text.split("\n"))  # a newline would start another assignment


async def watchdog_loop(notifier: SdNotifier, stop: asyncio.Event) -> None:
    """Ping the watchdog from the event loop until `stop`: a wedged loop stops pinging and is restarted."""
    interval = notifier.watchdog_interval()
    if interval is None:
        return
    while not stop.is_set():
        notifier.watchdog()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def notify_lifecycle(
    notifier: SdNotifier, *, ready: asyncio.Event, stop: asyncio.Event, describe: Callable[[], str]
) -> None:
    """The whole conversation with systemd: watchdog pings, READY=1 + STATUS once `ready`, STOPPING=1 at `stop`."""
    pings = asyncio.create_task(watchdog_loop(notifier, stop))
    if await _first_of(ready, stop) is ready:
        notifier.ready(describe())
    await stop.wait()
    notifier.stopping()
    await pings


async def _first_of(first: asyncio.Event, second: asyncio.Event) -> asyncio.Event:
    waits = {asyncio.create_task(first.wait()), asyncio.create_task(second.wait())}
    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return first if first.is_set() else second
