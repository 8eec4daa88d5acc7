"""Parts compressed apart make one gzip stream that every decoder reads whole."""

from __future__ import annotations

import gzip
import random
import subprocess
import zlib

import httpx
import pytest

from agent.export.gzip_parts import Part, combined_crc, gzip_of, inflate


def random_parts(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        rng.randbytes(rng.randint(0, 3000)) + b"node_cpu_seconds_total 1\n" * rng.randint(0, 20000)
        for _ in range(rng.randint(0, 40))
    ]


@pytest.mark.parametrize("seed", range(20))
def test_the_combined_crc_is_the_crc_of_the_whole(seed: int) -> None:
    datas = random_parts(seed)
    assert combined_crc([Part.of(d) for d in datas]) == zlib.crc32(b"".join(datas))


@pytest.mark.parametrize("seed", range(20))
def test_gzip_module_and_inflate_read_the_whole_body(seed: int) -> None:
    datas = random_parts(seed)
    parts = [Part.of(d) for d in datas]
    assert gzip.decompress(gzip_of(parts)) == b"".join(datas) == inflate(parts)


def test_an_empty_body_is_a_valid_empty_gzip() -> None:
    assert gzip.decompress(gzip_of([])) == b""


def test_httpx_and_the_gzip_command_read_the_whole_body() -> None:
    """httpx reads only the first member of a multi-member gzip: the parts must make one member."""
    datas = [b"a 1\n" * 50_000, b"", b"b 2\n" * 10, bytes(range(256)) * 100]
    body = gzip_of([Part.of(d) for d in datas])
    decoded = httpx.Response(200, headers={"content-encoding": "gzip"}, content=body).read()
    assert decoded == b"".join(datas)
    assert subprocess.run(["gzip", "-dc"], input=body, capture_output=True, check=True).stdout == b"".join(datas)
    assert subprocess.run(["gzip", "-t"], input=body, check=False).returncode == 0  # CRC and length checked


def test_the_length_in_the_trailer_wraps_at_4_gib_as_rfc_1952_says() -> None:
    """ISIZE is the length modulo 2^32 (RFC 1952); the CRC combination does not depend on it."""
    part = Part.of(b"x" * 1000)
    huge = Part(part.deflated, part.crc, part.size + 2**32, part.shift)
    assert gzip_of([huge])[-4:] == (1000).to_bytes(4, "little")
