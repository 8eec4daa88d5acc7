"""The web server's settings, checked and built in one go, so start-up and reload apply them alike.

Basic auth and TLS come from the config file's `web:` section or from an exporter-toolkit web
config file (`--web.config.file`), the file Prometheus and the exporters already share; one of
the two per setting, never both. Building reads the certificates (a reload re-reads them), so a
broken one is refused before anything changes.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.config import ConfigError
from agent.config.load import load_file
from agent.config.schema import WebConfig, WebConfigFile
from agent.web.auth import BasicAuth, WebAuthError, check_headers, check_users, protect, tls_context, with_headers
from agent.web.csrf import guard_state_changes
from agent.web.server import Handler, ServerLimits

OPEN_PATHS = frozenset({"/-/healthy", "/-/ready"})
FORM_PATHS = frozenset({"/silences", "/silences/expire"})  # the status page's forms, with their own token
# POST only carries long parameters (a query, many match[]), as in Prometheus.
READ_ONLY_POSTS = frozenset(
    {"/api/v1/query", "/api/v1/query_range", "/api/v1/query_exemplars", "/api/v1/series", "/api/v1/labels"}
)


@dataclass(frozen=True)
class WebSetup:
    """Everything the HTTP server needs from the config, ready to use."""

    auth: BasicAuth | None
    tls: ssl.SSLContext | None
    headers: dict[str, str]
    limits: ServerLimits


def build_web_setup(web: WebConfig) -> WebSetup:
    """Check and build; ConfigError lists every problem (file:line ones for the web config file)."""
    extra = load_web_config_file(web.config_file) if web.config_file else WebConfigFile()
    problems = _conflicts(web, extra)
    users = web.basic_auth_users or extra.basic_auth_users
    problems += [f"web: {p}" for p in check_users(users)]
    problems += [f"{web.config_file}: {p}" for p in check_headers(extra.http_server_config.headers)]
    problems += _limit_problems(web)
    tls_config = web.tls_server_config or extra.tls_server_config
    tls = None
    if not problems and tls_config is not None:
        try:
            tls = tls_context(tls_config)
        except WebAuthError as exc:
            problems.append(f"web: {exc}")
    if problems:
        raise ConfigError(problems)
    return WebSetup(BasicAuth(users) if users else None, tls, dict(extra.http_server_config.headers), limits(web))


def load_web_config_file(path: str) -> WebConfigFile:
    """The exporter-toolkit file, with its certificate paths taken relative to its own directory."""
    loaded = load_file(WebConfigFile, path)
    tls = loaded.tls_server_config
    if tls is None:
        return loaded
    base = Path(path).parent

    def resolve(file: str | None) -> str | None:
        return None if file is None else str(base / file)  # an absolute `file` stays as it is

    resolved = dataclasses.replace(
        tls,
        cert_file=resolve(tls.cert_file) or "",
        key_file=resolve(tls.key_file) or "",
        client_ca_file=resolve(tls.client_ca_file),
    )
    return dataclasses.replace(loaded, tls_server_config=resolved)


def _conflicts(web: WebConfig, extra: WebConfigFile) -> list[str]:
    both = []
    if web.basic_auth_users and extra.basic_auth_users:
        both.append("basic_auth_users")
    if web.tls_server_config is not None and extra.tls_server_config is not None:
        both.append("tls_server_config")
    return [f"web: {name} is set both in web: and in the web config file {web.config_file}; keep one" for name in both]


def limits(web: WebConfig) -> ServerLimits:
    """The HTTP server's limits from the `web:` section (seconds and bytes)."""
    return ServerLimits(
        max_connections=web.max_connections,
        read_header_timeout=float(web.read_header_timeout),
        read_timeout=float(web.read_timeout),
        idle_timeout=float(web.idle_timeout),
        max_header_bytes=web.max_header_bytes,
        max_body_bytes=web.max_request_body_bytes,
    )


def _limit_problems(web: WebConfig) -> list[str]:
    positive = {
        "max_connections": web.max_connections,
        "read_header_timeout": float(web.read_header_timeout),
        "read_timeout": float(web.read_timeout),
        "idle_timeout": float(web.idle_timeout),
        "max_header_bytes": web.max_header_bytes,
        "max_request_body_bytes": web.max_request_body_bytes,
    }
    return [f"web.{name}: must be greater than 0" for name, value in positive.items() if value <= 0]


def secure_routes(
    routes: Mapping[tuple[str, str], Handler], setup: WebSetup, external_url: str
) -> dict[tuple[str, str], Handler]:
    """The daemon's routes as served: cross-site refusal, the operator's headers, then basic auth."""
    guarded = guard_state_changes(
        routes, trusted_origins=[external_url], form_paths=FORM_PATHS, read_only_paths=READ_ONLY_POSTS
    )
    # Health checks stay open for probes (systemd, Kubernetes); everything else asks, as Prometheus does.
    return protect(with_headers(guarded, setup.headers), setup.auth, open_paths=OPEN_PATHS)
