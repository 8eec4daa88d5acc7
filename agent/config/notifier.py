"""`alerting:`, in Prometheus' own shape: which Alertmanagers get the alerts, and how alerts are relabelled.

Users paste the section from prometheus.yml (docs/configuration/configuration.md,
`<alertmanager_config>`): `static_configs` targets with a scheme, path prefix, timeout and the
HTTP client settings, and `alert_relabel_configs` applied to every alert before it is sent —
which is how an HA pair of agents, each with its own `replica` external label, sends the same
alert to an Alertmanager cluster that then notifies once. The older top-level
`alertmanagers: [{url: ...}]` list keeps working; both lists are sent to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.config.receivers import AlertmanagerTargetConfig, InlineHttpClient
from agent.config.remote_write import RelabelConfig
from agent.config.types import Duration

_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):[0-9]{1,5}")
SCHEMES = ("http", "https")


@dataclass(frozen=True)
class StaticConfig:
    """`static_configs` entry: Alertmanagers by `host:port`."""

    targets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for target in self.targets:
            if not _HOST_PORT.fullmatch(target):
                raise ValueError(f"target {target!r} is not host:port")


@dataclass(frozen=True)
class AlertmanagerConfig(InlineHttpClient):
    """One `<alertmanager_config>`: a set of Alertmanagers reached the same way."""

    static_configs: list[StaticConfig] = field(default_factory=list)
    scheme: str = "http"
    path_prefix: str = "/"
    timeout: Duration = Duration(10)
    api_version: str = "v2"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be http or https, not {self.scheme!r}")
        if self.api_version != "v2":
            raise ValueError(f"api_version {self.api_version!r}: only v2 exists since Alertmanager 0.27")
        if (problem := self.authentication_error()) is not None:
            raise ValueError(problem)

    def targets(self) -> list[AlertmanagerTargetConfig]:
        """Each Alertmanager as the forwarder takes it: its URL (prefix included), timeout and client settings."""
        prefix = "/" + self.path_prefix.strip("/") if self.path_prefix.strip("/") else ""
        http = self.http_client(self.timeout)
        return [
            AlertmanagerTargetConfig(url=f"{self.scheme}://{target}{prefix}", timeout=self.timeout, http_config=http)
            for static in self.static_configs
            for target in static.targets
        ]


@dataclass(frozen=True)
class AlertingConfig:
    """Prometheus' `alerting:` section."""

    alert_relabel_configs: list[RelabelConfig] = field(default_factory=list)
    alertmanagers: list[AlertmanagerConfig] = field(default_factory=list)

    def targets(self) -> list[AlertmanagerTargetConfig]:
        """Every Alertmanager of every `alertmanagers` entry."""
        return [target for config in self.alertmanagers for target in config.targets()]
