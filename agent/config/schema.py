"""The typed configuration, with every default in one place.

Each class is a frozen dataclass; the loader (load.py) builds them from YAML, checking
types and rejecting unknown keys. A field whose metadata says `secret` may instead be
given as `<field>_file: PATH`, and any string may contain `${env:NAME}`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from agent.config.alerting import InhibitRuleConfig, RouteConfig, SilenceConfig, TimeIntervalConfig
from agent.config.kafka import CanaryConfig, IncludeExclude, KafkaConfig
from agent.config.notifier import AlertingConfig
from agent.config.receivers import PAGERDUTY_EVENTS_URL, AlertmanagerTargetConfig, ReceiverConfig
from agent.config.remote_write import QueueConfig, RelabelConfig, RemoteWriteConfig
from agent.config.sql import SqlConfig
from agent.config.statsd import StatsdConfig
from agent.config.types import Duration, Secret, secret_field

# Duration, Secret and secret_field live in types.py (every config module uses them), the Kafka
# collector's classes in kafka.py (its child process imports them without the rest); all are
# re-exported here, where the rest of the agent looks for config names.
__all__ = [
    "AlertmanagerTargetConfig",
    "CanaryConfig",
    "CollectorsConfig",
    "Config",
    "Duration",
    "FilesystemConfig",
    "GlobalConfig",
    "HostConfig",
    "HttpServerConfig",
    "IncludeExclude",
    "InhibitRuleConfig",
    "KafkaConfig",
    "PromQLCompatSetting",
    "QueueConfig",
    "ReceiverConfig",
    "RelabelConfig",
    "RemoteWriteConfig",
    "RouteConfig",
    "RulesConfig",
    "ScanConfig",
    "Secret",
    "SilenceConfig",
    "SqlConfig",
    "StatsdConfig",
    "StoreConfig",
    "TextfileConfig",
    "TimeIntervalConfig",
    "TlsServerConfig",
    "WalConfig",
    "WalEnabled",
    "WalFlush",
    "WarehouseConfig",
    "WebConfig",
    "WebConfigFile",
    "secret_field",
]


class PromQLCompatSetting(enum.Enum):
    """`promql_compat`: whose PromQL semantics rules and queries follow (see docs/promql-compat.md)."""

    PROMETHEUS_3 = "3"
    PROMETHEUS_2 = "2"


@dataclass(frozen=True)
class GlobalConfig:
    """Defaults for every collector and rule group (seconds), the labels added to all alerts, and
    Alertmanager's `global:` receiver defaults (filled into receivers that leave them out)."""

    interval: Duration = Duration(10)
    timeout: Duration | None = None  # default: the interval
    evaluation_interval: Duration = Duration(10)
    external_labels: dict[str, str] = field(default_factory=dict)  # on alerts and on remote_write samples
    # Alertmanager's global section, so its users can paste theirs (config/config.go GlobalConfig).
    resolve_timeout: Duration = Duration(300)  # an alert posted without endsAt resolves after this
    smtp_from: str = ""
    smtp_hello: str = "localhost"
    smtp_smarthost: str = ""
    smtp_auth_username: str = ""
    smtp_auth_password: Secret | None = secret_field()
    smtp_auth_secret: Secret | None = secret_field()
    smtp_auth_identity: str = ""
    smtp_require_tls: bool = True
    slack_api_url: Secret | None = secret_field()
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    opsgenie_api_url: Secret | None = secret_field()
    opsgenie_api_key: Secret | None = secret_field()


@dataclass(frozen=True)
class TlsServerConfig:
    """exporter-toolkit's `tls_server_config`, the fields tripwired supports (paths relative to its file)."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_auth_type: str = "NoClientCert"  # or VerifyClientCertIfGiven, RequireAndVerifyClientCert
    min_version: str = "TLS12"  # or TLS13
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True)
class HttpServerConfig:
    """exporter-toolkit's `http_server_config`: extra response headers (http2 is accepted, unused)."""

    http2: bool = True  # tripwired speaks HTTP/1.1; the key is accepted so shared files load
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfigFile:
    """The exporter-toolkit web configuration file, given with `--web.config.file` (or web.config_file)."""

    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = field(default_factory=HttpServerConfig)
    basic_auth_users: dict[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    """The HTTP server: where it listens, who may call it, and its limits."""

    listen_address: str = "127.0.0.1:9842"
    external_url: str | None = None  # how people reach this agent (alert links); default: the listen address
    route_prefix: str | None = None  # serve every endpoint under this path; default: external_url's path
    # As Prometheus' web config file: user -> bcrypt hash; every endpoint but the health checks asks for it.
    basic_auth_users: dict[str, Secret] = field(default_factory=dict)
    tls_server_config: TlsServerConfig | None = None
    config_file: str | None = None  # an exporter-toolkit web config file, as --web.config.file
    enable_lifecycle: bool = False  # /-/reload and /-/quit over HTTP, as --web.enable-lifecycle
    # What one client may cost (Go's http.Server names; Prometheus has --web.max-connections 512).
    max_connections: int = 512
    read_header_timeout: Duration = Duration(10)
    read_timeout: Duration = Duration(60)
    idle_timeout: Duration = Duration(120)
    max_header_bytes: int = 64 * 1024
    max_request_body_bytes: int = 1 << 20


class WalEnabled(enum.Enum):
    """Whether the store keeps a write-ahead log in `state_dir/wal`."""

    AUTO = "auto"  # when rules read history or remote_write ships it
    TRUE = "true"
    FALSE = "false"


class WalFlush(enum.Enum):
    """When a collection is in the log, relative to the rules that read it."""

    COLLECTION = "collection"  # written before the rules see it: a crash or kill -9 loses nothing
    FSYNC = "fsync"  # written and fsync'ed first: a power cut loses nothing either
    BACKGROUND = "background"  # written soon after: a crash may lose the last few collections


@dataclass(frozen=True)
class WalConfig:
    """The store's write-ahead log: whether there is one, when a collection is on disk, how long to keep unsent data."""

    enabled: WalEnabled = WalEnabled.AUTO
    flush: WalFlush = WalFlush.COLLECTION
    # How long segments that a remote_write queue has not sent yet are kept (a receiver outage up
    # to this long loses nothing); older ones are dropped and counted in
    # tripwired_remote_storage_samples_dropped_total{reason="retention"}.
    remote_write_retention: Duration = Duration(6 * 3600)


@dataclass(frozen=True)
class StoreConfig:
    """The in-memory store: its series limit, how long it keeps history, and its WAL."""

    max_series: int = 200_000
    # How much history to keep in memory and in the WAL; default: the widest range any rule
    # reads plus the 5m lookback, and never less than 10m.
    retention: Duration | None = None
    wal: WalConfig = field(default_factory=WalConfig)


@dataclass(frozen=True)
class RulesConfig:
    """Restoring alert state after a restart, as Prometheus' --rules.alert.* flags."""

    for_outage_tolerance: Duration = Duration(3600)  # longer outages restart pending `for` timers
    for_grace_period: Duration = Duration(600)  # a restored pending alert fires no sooner than this


@dataclass(frozen=True)
class FilesystemConfig:
    """node_exporter's filesystem collector settings, with its Linux defaults."""

    mount_points_exclude: str = (
        r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
    )
    fs_types_exclude: str = (
        r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660"
        r"|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
    )
    mount_timeout: Duration = Duration(5)


@dataclass(frozen=True)
class HostConfig:
    """The host collector. Paths point at a host mounted elsewhere when run in a container."""

    enabled: bool = True
    interval: Duration | None = None
    timeout: Duration | None = None
    job: str | None = None  # the `job` label of its samples and `up`; default: see agent/targets.py
    instance: str | None = None  # the `instance` label; default: the agent's listen address
    procfs: str = "/proc"
    sysfs: str = "/sys"
    rootfs: str = "/"
    filesystem: FilesystemConfig = field(default_factory=FilesystemConfig)
    diskstats_device_exclude: str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"  # node_exporter 1.5
    netdev_device_exclude: str = ""
    netclass_ignored_devices: str = "^$"  # node_exporter 1.5's --collector.netclass.ignored-devices
    # node_exporter 1.5's --collector.netstat.fields: /proc/net/{netstat,snmp,snmp6} fields exported.
    netstat_fields: str = (
        r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)"
        r"|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)"
        r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
        r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
    )


@dataclass(frozen=True)
class TextfileConfig:
    """node_exporter's textfile collector: `*.prom` files in one directory."""

    directory: str | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    job: str | None = None  # the `job` label of its samples and `up`; default: see agent/targets.py
    instance: str | None = None  # the `instance` label; default: the agent's listen address
    watch: bool = True
    # A bigger file, or one with more samples, is refused whole: parsing costs about 8 bytes of
    # memory per byte and 1 KB per sample, and the unit's MemoryMax is 512M.
    file_size_limit_bytes: int = 16 * 1024 * 1024  # 0: no limit
    sample_limit: int = 100_000  # samples per file, as Prometheus' scrape sample_limit; 0: no limit

    def __post_init__(self) -> None:
        for name in ("file_size_limit_bytes", "sample_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (no limit) or positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class ScanConfig:
    """A warehouse scan: its pace and budget (seconds), which files it counts, whether it crosses links or mounts."""

    interval: Duration = Duration(300)
    timeout: Duration = Duration(60)
    include: list[str] = field(default_factory=list)  # globs; empty means every file
    exclude: list[str] = field(default_factory=list)
    follow_symlinks: bool = False
    cross_filesystems: bool = False


@dataclass(frozen=True)
class WarehouseConfig:
    """One data warehouse or lake: the disks under its paths and the data in them."""

    name: str
    paths: list[str]
    interval: Duration | None = None
    timeout: Duration | None = None
    job: str | None = None  # the `job` label of its samples and `up`; default: see agent/targets.py
    instance: str | None = None  # the `instance` label; default: the agent's listen address
    scan: ScanConfig = field(default_factory=ScanConfig)


@dataclass(frozen=True)
class CollectorsConfig:
    """Every collector section: host and textfile once, Kafka clusters, warehouses and databases as lists."""

    host: HostConfig = field(default_factory=HostConfig)
    textfile: TextfileConfig = field(default_factory=TextfileConfig)
    kafka: list[KafkaConfig] = field(default_factory=list)
    warehouse: list[WarehouseConfig] = field(default_factory=list)
    sql: list[SqlConfig] = field(default_factory=list)  # databases, see agent/config/sql.py


@dataclass(frozen=True)
class NotificationQueueConfig:
    """The durable outbox's bounds, as Prometheus' --alertmanager.notification-queue-capacity."""

    capacity: int = 10_000  # pending notifications; beyond it the oldest are dropped (counted)
    max_age: Duration = Duration(24 * 3600)  # one still undelivered after this is dropped (counted)
    max_in_flight: int = 4  # deliveries at once per receiver; after a crash at most these are sent again

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {self.capacity}")
        if self.max_age <= 0:
            raise ValueError(f"max_age must be positive, got {self.max_age:g}s")
        if self.max_in_flight < 1:  # 0 would stop every delivery
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")


@dataclass(frozen=True)
class Config:
    """The whole configuration file."""

    # Prometheus 3's PromQL by default; "2" keeps 2.42's (left-closed ranges, holt_winters, ...).
    promql_compat: PromQLCompatSetting = PromQLCompatSetting.PROMETHEUS_3
    # Prometheus' --enable-feature=promql-experimental-functions (sort_by_label, limitk, mad_over_time, ...).
    promql_experimental_functions: bool = False
    global_: GlobalConfig = field(default_factory=GlobalConfig, metadata={"key": "global"})
    state_dir: str = "data"  # relative to the working directory, like Prometheus' data/
    web: WebConfig = field(default_factory=WebConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    collectors: CollectorsConfig = field(default_factory=CollectorsConfig)
    rule_files: list[str] = field(default_factory=list)
    rules: RulesConfig = field(default_factory=RulesConfig)
    statsd: StatsdConfig | None = None  # StatsD export; off unless the section is there
    # Alertmanager's own shapes, so its users can paste theirs (see agent/config/alerting.py, receivers.py).
    route: RouteConfig | None = None
    templates: list[str] = field(default_factory=list)  # notification template globs, relative to this file
    receivers: list[ReceiverConfig] = field(default_factory=list)
    inhibit_rules: list[InhibitRuleConfig] = field(default_factory=list)
    time_intervals: list[TimeIntervalConfig] = field(default_factory=list)
    silences: list[SilenceConfig] = field(default_factory=list)
    alertmanagers: list[AlertmanagerTargetConfig] = field(default_factory=list)  # hand alerts to Alertmanager
    alerting: AlertingConfig = field(default_factory=AlertingConfig)  # the same, in prometheus.yml's shape
    notification_queue: NotificationQueueConfig = field(default_factory=NotificationQueueConfig)
    remote_write: list[RemoteWriteConfig] = field(default_factory=list)  # ship samples, fed from the WAL

    def alertmanager_targets(self) -> list[AlertmanagerTargetConfig]:
        """Every Alertmanager alerts go to: the `alertmanagers` list, then those of `alerting`."""
        return [*self.alertmanagers, *self.alerting.targets()]
