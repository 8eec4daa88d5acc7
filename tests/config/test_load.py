from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.config import Config, ConfigError, Secret, load_config, load_text
from agent.config.schema import secret_field


def errors_of(text: str, cls: type = Config) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(cls, text, "cfg.yaml")
    return caught.value.errors


def test_empty_file_gives_the_built_in_defaults() -> None:
    config = load_text(Config, "")
    assert config == Config()
    assert config.web.listen_address == "127.0.0.1:9842"
    assert config.collectors.host.enabled


def test_every_mistake_is_reported_at_once_with_file_line_and_path() -> None:
    text = "global:\n  interval: 10x\nweb:\n  listen_adress: 1.2.3.4:5\ncollectors:\n  host:\n    enabled: maybe\n"
    assert errors_of(text) == [
        "cfg.yaml:2: global.interval: invalid duration '10x' (use 10s, 1m30s, 5m, 1h)",
        "cfg.yaml:4: web.listen_adress: unknown field 'listen_adress' "
        "(known: basic_auth_users, config_file, enable_lifecycle, external_url, idle_timeout, listen_address, "
        "max_connections, max_header_bytes, max_request_body_bytes, read_header_timeout, read_timeout, route_prefix, "
        "tls_server_config)",
        "cfg.yaml:7: collectors.host.enabled: expected true or false, got 'maybe'",
    ]


def test_durations_use_prometheus_notation() -> None:
    config = load_text(Config, "global:\n  interval: 1m30s\n  evaluation_interval: 500ms\n")
    assert (config.global_.interval, config.global_.evaluation_interval) == (90.0, 0.5)


def test_list_items_are_validated_with_their_index() -> None:
    text = "collectors:\n  kafka:\n    - name: a\n      bootstrap_servers: x:9092\n    - name: b\n"
    assert errors_of(text) == ["cfg.yaml:5: collectors.kafka[1]: missing required field 'bootstrap_servers'"]


def test_wrong_shape_is_named() -> None:
    assert errors_of("web: [1, 2]\n") == ["cfg.yaml:1: web: expected a mapping, got a list"]


def test_env_references_are_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TW_LISTEN", "0.0.0.0:9999")
    config = load_text(Config, "web:\n  listen_address: ${env:TW_LISTEN}\n")
    assert config.web.listen_address == "0.0.0.0:9999"


def test_missing_env_reference_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TW_NOT_SET", raising=False)
    assert errors_of("state_dir: ${env:TW_NOT_SET}\n") == [
        "cfg.yaml:1: state_dir: environment variable TW_NOT_SET is not set"
    ]


@dataclass(frozen=True)
class _WithSecret:
    token: str | None = secret_field()
    other: dict[str, str] = field(default_factory=dict)


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    config = load_text(_WithSecret, f"token_file: {tmp_path / 'token'}\n")
    assert config.token == "s3cret"
    assert isinstance(config.token, Secret)
    assert "s3cret" not in repr(config)


def test_unreadable_secret_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert errors_of(f"token_file: {missing}\n", _WithSecret) == [
        f"cfg.yaml:1: token_file: cannot read secret file {missing}: No such file or directory"
    ]


def test_invalid_yaml_names_the_line() -> None:
    assert errors_of("web:\n  listen_address: [\n") == [
        "cfg.yaml:3: invalid YAML: expected the node content, but found '<stream end>'"
    ]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.yaml")
    assert caught.value.errors == [f"{tmp_path / 'absent.yaml'}: cannot read config file: No such file or directory"]


def test_kafka_client_settings_read_a_name_file_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "kafka-password").write_text("s3cret\n")
    text = (
        "collectors:\n  kafka:\n    - name: a\n      bootstrap_servers: x:9093\n      config:\n"
        "        sasl.username: ingest\n        sasl.password_file: kafka-password\n"
    )
    config = load_text(Config, text, str(tmp_path / "cfg.yaml"))
    settings = config.collectors.kafka[0].config
    assert {"sasl.username": "ingest", "sasl.password": "s3cret"} == settings
    assert isinstance(settings["sasl.password"], Secret)
    assert "s3cret" not in repr(config)


def test_an_unreadable_kafka_secret_file_is_an_error_at_its_line() -> None:
    text = "collectors:\n  kafka:\n    - name: a\n      bootstrap_servers: x:9093\n      config:\n"
    text += "        sasl.password_file: /nonexistent/password\n"
    assert errors_of(text) == [
        "cfg.yaml:6: collectors.kafka[0].config.sasl.password_file: "
        "cannot read secret file /nonexistent/password: No such file or directory"
    ]


def test_the_kafka_canary_is_off_by_default_and_offsets_of_every_group_are_shown() -> None:
    config = load_text(Config, "collectors:\n  kafka:\n    - name: a\n      bootstrap_servers: x:9092\n")
    kafka = config.collectors.kafka[0]
    assert (False, "_tripwired_canary", True) == (kafka.canary.enabled, kafka.canary.topic, kafka.offset_show_all)


def test_a_canary_timeout_not_shorter_than_its_interval_is_an_error_at_its_line() -> None:
    text = "collectors:\n  kafka:\n    - name: a\n      bootstrap_servers: x:9092\n"
    text += "      canary:\n        enabled: true\n        interval: 5s\n        timeout: 10s\n"
    assert errors_of(text) == [
        "cfg.yaml:6: collectors.kafka[0].canary: timeout (10s) must be positive and shorter than interval (5s)"
    ]


def test_store_wal_settings_are_read_as_their_enumerations() -> None:
    config = load_text(Config, "store:\n  retention: 2h\n  wal: {enabled: true, flush: fsync}\n")
    assert (7200.0, "true", "fsync") == (
        config.store.retention,
        config.store.wal.enabled.value,
        config.store.wal.flush.value,
    )


def test_an_unknown_wal_flush_names_the_line_and_the_choices() -> None:
    assert ["cfg.yaml:3: store.wal.flush: expected one of collection, fsync, background, got 'sometimes'"] == (
        errors_of("store:\n  wal:\n    flush: sometimes\n")
    )


# Found by tests/faults/test_fuzz.py: each crashed or hung the loader instead of an error.


def test_a_null_list_item_of_a_dataclass_is_reported_with_its_line() -> None:
    assert errors_of("receivers:\n- null\n") == ["cfg.yaml:2: receivers[0]: missing required field 'name'"]


def test_a_negative_duration_is_an_error_not_a_panic() -> None:
    assert errors_of("global:\n  interval: -5\n") == [
        "cfg.yaml:2: global.interval: invalid duration '-5' (use 10s, 1m30s, 5m, 1h)"
    ]


def test_an_alias_bomb_is_refused_at_once() -> None:
    anchors = "".join(f"  - &r{i} {{receiver: a, routes: [*r{i - 1}, *r{i - 1}]}}\n" for i in range(1, 30))
    text = f"x:\n  - &r0 {{receiver: a}}\n{anchors}route: *r29\n"
    assert errors_of(text) == ["cfg.yaml:1: invalid YAML: aliases expand the document more than 10 times"]


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert errors_of("route: &r {receiver: a, routes: [*r]}\n") == [
        "cfg.yaml:1: invalid YAML: an alias refers to a node that contains it"
    ]


def test_anchors_used_a_few_times_are_fine() -> None:
    text = (
        "receivers:\n- name: a\n  webhook_configs: [&hook {url: 'http://x/'}]\n- name: b\n  webhook_configs: [*hook]\n"
    )
    config = load_text(Config, text)
    assert config.receivers[0].webhook_configs == config.receivers[1].webhook_configs


def test_nesting_deeper_than_python_recursion_is_an_error() -> None:
    assert errors_of("[" * 5000 + "]" * 5000) == ["cfg.yaml:1: invalid YAML: nested too deeply"]


def test_a_secret_file_path_with_a_nul_is_an_error() -> None:
    text = 'receivers:\n- name: a\n  slack_configs:\n  - api_url_file: "a\\0b"\n'
    [error] = errors_of(text)
    assert error.startswith("cfg.yaml:4: receivers[0].slack_configs[0].api_url_file: cannot read secret file")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("capacity: 0", "capacity must be at least 1, got 0"),
        ("max_age: 0s", "max_age must be positive, got 0s"),
        ("max_in_flight: 0", "max_in_flight must be at least 1, got 0"),
        ("max_in_flight: -3", "max_in_flight must be at least 1, got -3"),
    ],
)
def test_notification_queue_settings_that_would_stop_delivery_are_refused(setting: str, message: str) -> None:
    assert errors_of(f"state_dir: x\nnotification_queue:\n  {setting}\n") == [
        f"cfg.yaml:3: notification_queue: {message}"
    ]


@pytest.mark.parametrize("setting", ["file_size_limit_bytes: -1", "sample_limit: -10"])
def test_negative_textfile_limits_are_refused(setting: str) -> None:
    [error] = errors_of(f"collectors:\n  textfile:\n    {setting}\n")
    assert error.startswith("cfg.yaml:3: collectors.textfile: ") and "must be 0 (no limit) or positive" in error


def test_zero_textfile_limits_mean_no_limit() -> None:
    config = load_text(Config, "collectors:\n  textfile:\n    file_size_limit_bytes: 0\n    sample_limit: 0\n")
    assert (0, 0) == (config.collectors.textfile.file_size_limit_bytes, config.collectors.textfile.sample_limit)


def test_alertmanager_global_defaults_fill_the_receivers_that_leave_them_out(tmp_path: Path) -> None:
    """Alertmanager's `global:` SMTP, Slack, Opsgenie and PagerDuty settings, as its config.Load applies them."""
    (tmp_path / "smtp-password").write_text("s3cret\n")
    config = load_text(
        Config,
        """
global:
  smtp_from: alerts@example.com
  smtp_smarthost: mail.example.com:587
  smtp_auth_username: alerts
  smtp_auth_password_file: smtp-password
  smtp_require_tls: false
  slack_api_url: https://hooks.slack.example/T0/B0/x
  opsgenie_api_key: og-key
  pagerduty_url: https://events.eu.pagerduty.example/v2/enqueue
route: {receiver: team}
receivers:
  - name: team
    email_configs:
      - to: ops@example.com
      - to: dba@example.com
        from: dba-alerts@example.com
        require_tls: true
    slack_configs: [{channel: "#ops"}]
    opsgenie_configs: [{}]
    pagerduty_configs: [{routing_key: k}]
""",
        str(tmp_path / "tripwired.yaml"),
    )
    [team] = config.receivers
    first, second = team.email_configs
    assert (first.from_, first.smarthost, first.auth_username, first.require_tls, first.hello) == (
        "alerts@example.com",
        "mail.example.com:587",
        "alerts",
        False,
        "localhost",
    )
    assert first.auth_password is not None and first.auth_password.strip() == "s3cret"
    assert (second.from_, second.require_tls) == ("dba-alerts@example.com", True)  # its own settings win
    assert team.slack_configs[0].api_url == "https://hooks.slack.example/T0/B0/x"
    assert team.opsgenie_configs[0].api_key == "og-key"
    assert team.pagerduty_configs[0].url == "https://events.eu.pagerduty.example/v2/enqueue"


def test_config_check_syntax_only_needs_neither_secret_files_nor_rule_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In CI, where the secrets are not: `--syntax-only` checks the file alone; the full check names what is missing."""
    from agent.cli import main

    config = tmp_path / "tripwired.yaml"
    config.write_text(
        "rule_files: [/etc/tripwired/rules/host.yaml]\n"
        "route: {receiver: team}\n"
        "receivers:\n"
        "  - name: team\n"
        "    slack_configs: [{api_url_file: /run/secrets/slack-url}]\n"
        "    webhook_configs: [{url_file: /run/secrets/hook-url}]\n"
        "    pagerduty_configs: [{routing_key_file: /run/secrets/pd-key}]\n"
    )
    assert main(["config", "check", str(config)]) == 2
    errors = capsys.readouterr().err
    assert "cannot read secret file /run/secrets/slack-url: No such file or directory" in errors
    assert "/etc/tripwired/rules/host.yaml: cannot read rule file" not in errors  # config errors come first
    assert main(["config", "check", "--syntax-only", str(config)]) == 0
    assert capsys.readouterr().out == f"{config}: config is valid (syntax only: rule files and secret files not read)\n"
    config.write_text(config.read_text().replace("receiver: team", "receiver: nobody"))
    assert main(["config", "check", "--syntax-only", str(config)]) == 2  # the file itself is still checked
    assert "nobody" in capsys.readouterr().err
