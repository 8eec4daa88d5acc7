"""The remote_write 1.0 wire format: a protobuf `prometheus.WriteRequest`, snappy block compressed.

The four messages we send (prompb/remote.proto and prompb/types.proto: WriteRequest, TimeSeries,
Label, Sample, with Prometheus' field numbers) are declared here through the protobuf runtime's
descriptor API rather than by a protoc-generated module: they are twelve lines of schema, a
generated file would be several hundred lines of build output to review and to keep in step with
the installed protobuf runtime, and this way the wire contract sits in one readable place.
Fields Prometheus added later (exemplars, histograms, metadata) are left out: we never send them,
and protobuf readers skip absent fields. Compression is cramjam's snappy *raw* (block) format,
which is what the protocol asks for; the framed (streaming) format would be refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from agent import __version__

PROTOCOL_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": f"tripwired/{__version__}",
}

_F = descriptor_pb2.FieldDescriptorProto
# message -> [(field, number, type, label, message type name)]
_SCHEMA: dict[str, list[tuple[str, int, int, int, str]]] = {
    "Label": [("name", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""), ("value", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, "")],
    "Sample": [
        ("value", 1, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
        ("timestamp", 2, _F.TYPE_INT64, _F.LABEL_OPTIONAL, ""),
    ],
    "TimeSeries": [
        ("labels", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".prometheus.Label"),
        ("samples", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".prometheus.Sample"),
    ],
    "WriteRequest": [("timeseries", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".prometheus.TimeSeries")],
}


def _message_classes() -> dict[str, Any]:
    """Build the messages in a pool of their own, so they never clash with another `prometheus` package."""
    proto = descriptor_pb2.FileDescriptorProto(name="tripwired/remote.proto", package="prometheus", syntax="proto3")
    for message, fields in _SCHEMA.items():
        described = proto.message_type.add(name=message)
        for name, number, kind, label, type_name in fields:
            added = described.field.add(name=name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}")) for name in _SCHEMA}


_CLASSES = _message_classes()
WriteRequest = _CLASSES["WriteRequest"]
TimeSeries = _CLASSES["TimeSeries"]


def encode_labels(labels: Sequence[tuple[str, str]]) -> bytes:
    """A TimeSeries holding only `labels` (sorted by name, `__name__` included), serialized.

    A series' labels are encoded once per WAL segment and merged into every request that carries
    it: about half the cost of adding each label again, in every request.
    """
    series = TimeSeries()
    for name, value in labels:
        series.labels.add(name=name, value=value)
    return bytes(series.SerializeToString())


@dataclass(frozen=True, slots=True)
class Request:
    """One request, ready to post: its body, how many samples it carries and the newest one's time."""

    body: bytes
    samples: int
    newest_ms: int


class RequestBuilder:
    """Builds WriteRequests of at most `max_samples` samples, each series' samples in one TimeSeries per request.

    `add` is called once per sample on the reading thread, so it builds the protobuf messages
    directly: no intermediate objects per sample.
    """

    def __init__(self, max_samples: int) -> None:
        self.max_samples = max_samples
        self.samples = 0  # in every request so far
        self._done: list[Request] = []
        self._request = WriteRequest()
        # Encoded labels -> the series' TimeSeries in the current request. Not keyed by the WAL's series
        # id: ids restart in every segment, and one request may hold samples of two segments.
        self._series: dict[bytes, Any] = {}
        self._count = 0
        self._newest = 0

    def add(self, labels: bytes, t_ms: int, value: float) -> None:
        """Add one sample of a series (its labels already encoded); starts a new request when this one is full.

        The reader hands the same bytes object for every sample of a series in a segment, so the
        dictionary look-up hashes each series' labels once (bytes cache their hash).
        """
        if self._count >= self.max_samples:
            self._finish_request()
        out = self._series.get(labels)
        if out is None:
            out = self._series[labels] = self._request.timeseries.add()
            out.MergeFromString(labels)
        out.samples.add(value=value, timestamp=t_ms)
        self._count += 1
        self.samples += 1
        self._newest = max(self._newest, t_ms)

    def _finish_request(self) -> None:
        if self._count:
            self._done.append(Request(compress(self._request), self._count, self._newest))
        self._request, self._series, self._count, self._newest = WriteRequest(), {}, 0, 0

    def requests(self) -> list[Request]:
        """The requests built, the last one closed."""
        self._finish_request()
        return self._done


def compress(request: Any) -> bytes:
    """A WriteRequest's wire form: serialized, then snappy block compressed."""
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def decode(body: bytes) -> Any:
    """A WriteRequest back from its wire form (for tests and the bench's receiver)."""
    request = WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return request
