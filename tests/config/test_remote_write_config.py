"""`remote_write:` in Prometheus' shape: every field, its defaults, and errors with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import Config, ConfigError, load_config, load_text
from agent.config.remote_write import RelabelAction
from agent.runtime.validate import config_errors

PASTED_FROM_PROMETHEUS = """\
global:
  external_labels: {cluster: eu1, replica: a}
remote_write:
  - url: https://mimir.example/api/v1/push
    name: mimir
    remote_timeout: 10s
    headers: {X-Scope-OrgID: team-a}
    basic_auth: {username: agent, password_file: pw}
    tls_config: {ca_file: /etc/ssl/ca.pem, insecure_skip_verify: false}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
    queue_config:
      capacity: 10000
      max_shards: 4
      min_shards: 1
      max_samples_per_send: 2000
      batch_send_deadline: 2s
      min_backoff: 100ms
      max_backoff: 10s
      retry_on_http_429: true
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(Config, text, "cfg.yaml")
    return caught.value.errors


def test_a_remote_write_pasted_from_prometheus_loads(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "c.yaml").write_text(PASTED_FROM_PROMETHEUS)
    config = load_config(tmp_path / "c.yaml")
    (remote,) = config.remote_write
    assert ("https://mimir.example/api/v1/push", "mimir", 10.0) == (remote.url, remote.name, remote.remote_timeout)
    assert remote.basic_auth is not None and "s3cret" == remote.basic_auth.password
    assert RelabelAction.DROP == remote.write_relabel_configs[0].action
    queue = remote.queue_config
    assert (10000, 4, 2000, 2.0, 0.1, 10.0, True) == (
        queue.capacity,
        queue.max_shards,
        queue.max_samples_per_send,
        queue.batch_send_deadline,
        queue.min_backoff,
        queue.max_backoff,
        queue.retry_on_http_429,
    )
    assert {"cluster": "eu1", "replica": "a"} == config.global_.external_labels
    assert [] == config_errors(config, "c.yaml")


def test_queue_defaults_are_prometheus_2_42s() -> None:
    (remote,) = load_text(Config, "remote_write: [{url: 'http://x/api/v1/write'}]").remote_write
    queue = remote.queue_config
    assert (2500, 200, 1, 500, 5.0, 0.03, 5.0, False) == (
        queue.capacity,
        queue.max_shards,
        queue.min_shards,
        queue.max_samples_per_send,
        queue.batch_send_deadline,
        queue.min_backoff,
        queue.max_backoff,
        queue.retry_on_http_429,
    )
    assert 30.0 == remote.remote_timeout


def test_bearer_token_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok\n")
    (tmp_path / "c.yaml").write_text("remote_write:\n  - url: http://x/w\n    bearer_token_file: token\n")
    assert "tok" == load_config(tmp_path / "c.yaml").remote_write[0].bearer_token


def test_mistakes_name_their_line() -> None:
    text = (
        "remote_write:\n"
        "  - url: http://x/w\n"
        "    queue_config: {min_shards: 5, max_shards: 2}\n"
        "  - url: http://y/w\n"
        "    sharding: 3\n"
        "  - url: http://z/w\n"
        "    write_relabel_configs:\n"
        "      - {source_labels: [a], action: replace}\n"
    )
    assert [
        "cfg.yaml:3: remote_write[0].queue_config: need 1 <= min_shards (5) <= max_shards (2)",
        "cfg.yaml:5: remote_write[1].sharding: unknown field 'sharding' (known: authorization, basic_auth, "
        "bearer_token, follow_redirects, headers, name, proxy_url, queue_config, remote_timeout, tls_config, "
        "url, write_relabel_configs)",
        "cfg.yaml:8: remote_write[2].write_relabel_configs[0]: relabel configuration for replace action "
        "requires 'target_label' value",
    ] == errors_of(text)


def test_checks_beyond_types() -> None:
    config = load_text(
        Config,
        "store: {wal: {enabled: false}}\n"
        "remote_write:\n"
        "  - {url: 'ftp://x', name: a}\n"
        "  - {url: 'http://x', name: a, headers: {Content-Type: text/plain},\n"
        "     bearer_token: t, basic_auth: {username: u}}\n"
        "  - {name: b}\n",
    )
    assert [
        "c.yaml: remote_write[0].url: must start with http:// or https://",
        "c.yaml: remote_write[1].name: remote_write name 'a' is used twice",
        "c.yaml: remote_write[1].headers: Content-Type is set by the remote write protocol and may not be overridden",
        "c.yaml: remote_write[1]: at most one of authorization, bearer_token and basic_auth may be set",
        "c.yaml: remote_write[2]: url or url_file is required",
        "c.yaml: remote_write: needs the write-ahead log it sends from; store.wal.enabled is false",
    ] == config_errors(config, "c.yaml")


def test_a_relabel_regex_re2_refuses_names_its_line() -> None:
    """A lookahead, which Python's re takes and Go's regexp (RE2) refuses, in write_relabel_configs."""
    text = (
        "remote_write:\n"
        "  - url: http://z/w\n"
        "    write_relabel_configs:\n"
        "      - {source_labels: [job], regex: 'node(?=x)', action: keep}\n"
    )
    assert [
        "cfg.yaml:4: remote_write[0].write_relabel_configs[0]: invalid regex 'node(?=x)': "
        "error parsing regexp: invalid perl operator: (?="
    ] == errors_of(text)
