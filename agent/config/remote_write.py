"""`remote_write:` and `relabel_configs`, in Prometheus' own configuration shapes.

Users paste their `remote_write:` entries from prometheus.yml: the field names and defaults are
Prometheus 2.42's (docs/configuration/configuration.md, `<remote_write>` and `<queue_config>`).
Secrets (password, bearer token) may come from `<field>_file` or `${env:NAME}`, as everywhere.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.config.receivers import HttpClientConfig, InlineHttpClient
from agent.config.types import Duration, Secret, secret_field
from agent.gocompat.regex import RegexError, compile_anchored

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class RelabelAction(enum.Enum):
    """Prometheus' relabel actions (model/relabel/relabel.go)."""

    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"


@dataclass(frozen=True)
class RelabelConfig:
    """One step of `write_relabel_configs` (Prometheus' `<relabel_config>`, with its defaults)."""

    source_labels: list[str] = field(default_factory=list)
    separator: str = ";"
    target_label: str = ""
    regex: str = "(.*)"
    modulus: int = 0
    replacement: str = "$1"
    action: RelabelAction = RelabelAction.REPLACE

    def __post_init__(self) -> None:
        try:
            compile_anchored(self.regex)
        except RegexError as exc:
            raise ValueError(f"invalid regex {self.regex!r}: {exc}") from None
        needs_target = (
            RelabelAction.REPLACE,
            RelabelAction.HASHMOD,
            RelabelAction.LOWERCASE,
            RelabelAction.UPPERCASE,
            RelabelAction.KEEPEQUAL,
            RelabelAction.DROPEQUAL,
        )
        if self.action in needs_target and not self.target_label:
            raise ValueError(f"relabel configuration for {self.action.value} action requires 'target_label' value")
        if self.action is RelabelAction.HASHMOD and self.modulus <= 0:
            raise ValueError("relabel configuration for hashmod requires non-zero modulus")


@dataclass(frozen=True)
class QueueConfig:
    """Prometheus' `queue_config`, with its 2.42 defaults.

    tripwired sends with one shard (one request in flight), which keeps every series in order
    without the resharding machinery; `max_shards` is honoured as an upper bound and
    `min_shards` must not exceed it. The queue reads one batch ahead (`max_samples_per_send`
    samples), within `capacity`; the backlog itself waits on disk, in the WAL.
    """

    capacity: int = 2500
    max_shards: int = 200
    min_shards: int = 1
    max_samples_per_send: int = 500
    batch_send_deadline: Duration = Duration(5)
    min_backoff: Duration = Duration(0.03)
    max_backoff: Duration = Duration(5)
    retry_on_http_429: bool = False  # Prometheus 2.42's default: a 429 is dropped unless this says retry

    def __post_init__(self) -> None:
        if self.max_shards < 1 or not 1 <= self.min_shards <= self.max_shards:
            raise ValueError(f"need 1 <= min_shards ({self.min_shards}) <= max_shards ({self.max_shards})")
        if self.max_samples_per_send < 1 or self.capacity < self.max_samples_per_send:
            raise ValueError(
                f"need 1 <= max_samples_per_send ({self.max_samples_per_send}) <= capacity ({self.capacity})"
            )
        if not 0 < self.min_backoff <= self.max_backoff:
            raise ValueError(f"need 0 < min_backoff ({self.min_backoff:g}s) <= max_backoff ({self.max_backoff:g}s)")
        if self.batch_send_deadline <= 0:
            raise ValueError("batch_send_deadline must be positive")


@dataclass(frozen=True)
class RemoteWriteConfig(InlineHttpClient):
    """One `remote_write:` entry: where to send, how to authenticate, what to drop, how to queue."""

    url: Secret | None = secret_field()  # URLs may carry a token: never printed, may come from url_file
    name: str = ""  # default: a hash of the URL, as Prometheus names its queues
    remote_timeout: Duration = Duration(30)
    # Headers often carry a tenant's token; `NAME_file: PATH` reads NAME's value from a file.
    headers: dict[str, Secret] = field(default_factory=dict, metadata={"secret_files": True})
    write_relabel_configs: list[RelabelConfig] = field(default_factory=list)
    queue_config: QueueConfig = field(default_factory=QueueConfig)

    def http_config(self) -> HttpClientConfig:
        """The HTTP client settings, with `remote_timeout` as the request timeout."""
        return self.http_client(self.remote_timeout)


# Headers the remote write protocol sets itself; Prometheus refuses them in `headers` too.
RESERVED_HEADERS = frozenset(
    {"host", "authorization", "content-encoding", "content-type", "x-prometheus-remote-write-version", "user-agent"}
)


def remote_write_errors(configs: Sequence[RemoteWriteConfig]) -> list[str]:
    """What the loader cannot check by type: URLs, unique names, reserved headers, one way to authenticate."""
    errors: list[str] = []
    seen: set[str] = set()
    for i, config in enumerate(configs):
        where = f"remote_write[{i}]"
        if not config.url:
            errors.append(f"{where}: url or url_file is required")
        elif not str(config.url).startswith(("http://", "https://")):
            errors.append(f"{where}.url: must start with http:// or https://")
        if config.name and config.name in seen:
            errors.append(f"{where}.name: remote_write name {config.name!r} is used twice")
        seen.add(config.name)
        if config.name and not _LABEL_NAME.fullmatch(config.name.replace("-", "_")):
            errors.append(f"{where}.name: {config.name!r} may hold letters, digits, '_' and '-' only")
        errors.extend(
            f"{where}.headers: {header} is set by the remote write protocol and may not be overridden"
            for header in config.headers
            if header.lower() in RESERVED_HEADERS
        )
        if (problem := config.authentication_error()) is not None:
            errors.append(f"{where}: {problem}")
    return errors
