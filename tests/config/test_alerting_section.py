"""`alerting:` in prometheus.yml's shape: Alertmanagers by static targets, and alert relabelling."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, load_text
from agent.config.remote_write import RelabelAction
from agent.config.schema import Config

PROMETHEUS_SHAPED = """\
alertmanagers:
  - url: http://legacy:9093
alerting:
  alert_relabel_configs:
    - action: labeldrop
      regex: replica
  alertmanagers:
    - static_configs:
        - targets: [am-1:9093, "127.0.0.1:9094"]
    - scheme: https
      path_prefix: /alertmanager/
      timeout: 3s
      basic_auth: {username: agent, password: s3cret}
      static_configs:
        - targets: ["[::1]:9095"]
"""


def test_every_static_target_becomes_an_alertmanager_beside_the_older_list() -> None:
    config = load_text(Config, PROMETHEUS_SHAPED)

    targets = config.alertmanager_targets()

    assert [target.url for target in targets] == [
        "http://legacy:9093",
        "http://am-1:9093",
        "http://127.0.0.1:9094",
        "https://[::1]:9095/alertmanager",
    ]
    basic_auth = targets[3].http_config.basic_auth
    assert (3.0, "agent") == (float(targets[3].timeout), basic_auth.username if basic_auth else None)
    assert [RelabelAction.LABELDROP] == [step.action for step in config.alerting.alert_relabel_configs]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [am-1]\n", "not host:port"),
        ("alerting:\n  alertmanagers:\n    - api_version: v1\n", "only v2"),
        ("alerting:\n  alertmanagers:\n    - scheme: ftp\n", "http or https"),
        ("alerting:\n  alertmanagers:\n    - static_configs:\n        - target: [am:9093]\n", "target"),
    ],
)
def test_a_mistake_is_reported_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_text(Config, text, "prometheus.yml")

    [line] = error.value.errors
    assert line.startswith("prometheus.yml:") and message in line, line
