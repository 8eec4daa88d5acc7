"""agent/memory.py: glibc gives large freed blocks back to the system once the daemon tuned it."""

from __future__ import annotations

import subprocess
import sys

# Allocates 200 blocks of 256 KiB (50 MiB) after freeing one first, as a daemon does over its cycles,
# then frees all but the newest, and prints how much resident memory that gave back.
_PROBE = """
import sys
from agent.memory import tune_allocator

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

if sys.argv[1] == "tuned":
    tune_allocator()
bytearray(256 * 1024)  # one large block made and freed: glibc raises its mmap threshold past it
blocks = [bytearray(256 * 1024) for _ in range(200)]
peak = rss_kib()
del blocks[:-1]
print((peak - rss_kib()) // 1024)
"""


def _given_back_mib(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return int(result.stdout)


def test_freed_large_blocks_go_back_to_the_system_once_tuned() -> None:
    """Large blocks freed under a newer one that pins the heap's top (a /metrics body, a child's frame)."""
    assert _given_back_mib("default") < 10, "glibc's default keeps them: the fault this guards against"
    assert _given_back_mib("tuned") > 40
