"""The remote_write 1.0 wire format, checked byte by byte against prompb's field numbers."""

from __future__ import annotations

import struct

import cramjam

from agent.remote.codec import PROTOCOL_HEADERS, RequestBuilder, decode, encode_labels


def encode(labels: list[tuple[str, str]], points: list[tuple[int, float]]) -> bytes:
    """The one request a builder makes of one series' points."""
    builder = RequestBuilder(max_samples=100)
    for t_ms, value in points:
        builder.add(encode_labels(labels), t_ms, value)
    (request,) = builder.requests()
    return request.body


def test_write_request_bytes_follow_prompb() -> None:
    """WriteRequest.timeseries=1, TimeSeries.labels=1/.samples=2, Label.name=1/.value=2, Sample.value=1/.timestamp=2."""
    body = encode([("__name__", "a")], [(2, 1.0)])
    label = b"\x0a\x08__name__\x12\x01a"
    sample = b"\x09" + struct.pack("<d", 1.0) + b"\x10\x02"
    series = b"\x0a" + bytes([len(label)]) + label + b"\x12" + bytes([len(sample)]) + sample
    assert b"\x0a" + bytes([len(series)]) + series == bytes(cramjam.snappy.decompress_raw(body))


def test_round_trip_keeps_labels_samples_and_nan_bits() -> None:
    stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
    body = encode([("__name__", "up"), ("job", "x")], [(1000, 1.5), (2000, stale)])
    (series,) = decode(body).timeseries
    assert [("__name__", "up"), ("job", "x")] == [(label.name, label.value) for label in series.labels]
    assert [1000, 2000] == [s.timestamp for s in series.samples]
    assert 0x7FF0000000000002 == struct.unpack("<Q", struct.pack("<d", series.samples[1].value))[0]


def test_the_body_is_snappy_block_format_not_framed() -> None:
    body = encode([("__name__", "a")], [(1, 1.0)])
    assert not body.startswith(b"\xff\x06\x00\x00sNaPpY")  # the framed format's stream identifier


def test_protocol_headers() -> None:
    assert "snappy" == PROTOCOL_HEADERS["Content-Encoding"]
    assert "application/x-protobuf" == PROTOCOL_HEADERS["Content-Type"]
    assert "0.1.0" == PROTOCOL_HEADERS["X-Prometheus-Remote-Write-Version"]
    assert PROTOCOL_HEADERS["User-Agent"].startswith("tripwired/")


def test_requests_hold_at_most_max_samples_and_each_series_once() -> None:
    builder = RequestBuilder(max_samples=3)
    a, b = encode_labels([("__name__", "a")]), encode_labels([("__name__", "b")])
    for t in (1, 2):
        builder.add(a, t, 1.0)
        builder.add(b, t, 2.0)
    requests = builder.requests()
    assert [3, 1] == [r.samples for r in requests]
    assert [2, 2] == [r.newest_ms for r in requests]
    first = decode(requests[0].body)
    assert [2, 1] == [len(series.samples) for series in first.timeseries]
