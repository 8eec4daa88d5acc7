"""Alertmanager's API v2 handlers on a fake clock: what amtool and a sending Prometheus cannot show cheaply."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock
from agent.config.alerting import RouteConfig
from agent.notify.dispatch import Dispatcher
from agent.notify.model import Notification
from agent.notify.nflog import NotifyLog
from agent.notify.silence import Silences, format_rfc3339
from agent.runtime.alertmanager_api import AlertmanagerApi, alert_from_json, alerting_config_yaml
from agent.web.alertmanager_v2 import alertmanager_routes
from agent.web.server import Request, Response, match_path

NOW = 1_800_000_000.0


class Api:
    """The v2 routes over a real dispatcher and silence store in a temp dir, called in-process."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock(NOW)
        self.sent: list[Notification] = []
        self.silences = Silences(tmp_path, self.clock)
        route = RouteConfig(receiver="team", group_by=["alertname"])
        self.dispatcher = Dispatcher(
            route,
            silences=self.silences,
            notify_log=NotifyLog(tmp_path, self.clock),
            clock=self.clock,
            enqueue=self.sent.append,
        )
        api = AlertmanagerApi(self.dispatcher, self.silences, ["team"], config_path=None, started_at=NOW)
        self.routes = alertmanager_routes(api)

    def call(self, method: str, path: str, body: Any = None, **query: list[str]) -> Response:
        template = next(p for m, p in self.routes if m == method and (p == path or match_path(p, path) is not None))
        request = Request(
            method,
            path,
            query,
            {"content-type": "application/json"},
            b"" if body is None else json.dumps(body).encode(),
            params=match_path(template, path) or {},
        )
        return asyncio.run(self.routes[(method, template)](request))


def answer(response: Response) -> Any:
    return json.loads(response.body) if response.body else None


def test_valid_alerts_are_taken_and_each_invalid_one_is_named(tmp_path: Path) -> None:
    """A batch with one bad alert: the good ones are routed, the 400 names the bad one and why."""
    api = Api(tmp_path)
    response = api.call(
        "POST",
        "/api/v2/alerts",
        [
            {"labels": {"alertname": "A"}},
            {"labels": {}},
            {"labels": {"0bad": "x"}},
            {"labels": {"alertname": "B"}, "startsAt": format_rfc3339(NOW), "endsAt": format_rfc3339(NOW - 60)},
            {"labels": {"alertname": "C"}, "annotations": {"n": 1}},
        ],
    )
    assert response.status == 400
    message = answer(response)
    assert "alert 1: at least one label pair required" in message
    assert 'alert 2: invalid label set: invalid name "0bad"' in message
    assert "alert 3: start time must be before end time" in message
    assert "alert 4: annotations: value of 'n' must be a string" in message
    assert [a["labels"] for a in answer(api.call("GET", "/api/v2/alerts"))] == [{"alertname": "A"}]
    api.clock.advance(31)  # the default group_wait
    api.dispatcher.flush_due()
    assert [[a.name for a in n.alerts] for n in api.sent] == [["A"]]


def test_times_default_as_alertmanager_defaults_them() -> None:
    """No startsAt: now; no endsAt: now + resolve_timeout (5m); only endsAt: starts then; past end: resolved."""
    fresh = alert_from_json({"labels": {"alertname": "A"}}, NOW)
    assert (fresh.starts_at, fresh.ends_at, fresh.state.value) == (NOW, NOW + 300, "firing")
    ended = alert_from_json({"labels": {"alertname": "A"}, "endsAt": format_rfc3339(NOW - 10)}, NOW)
    assert (ended.starts_at, ended.ends_at, ended.state.value, ended.resolved_at) == (
        NOW - 10,
        NOW - 10,
        "inactive",
        NOW - 10,
    )
    zero = alert_from_json({"labels": {"alertname": "A"}, "startsAt": "0001-01-01T00:00:00Z"}, NOW)
    assert zero.starts_at == NOW  # Go's zero time, as Prometheus' client may send it, means unset


def test_an_alert_not_sent_again_stops_being_listed_at_its_end(tmp_path: Path) -> None:
    """Alertmanager's resolve timeout: listed until endsAt, gone after, without anyone resolving it."""
    api = Api(tmp_path)
    api.call("POST", "/api/v2/alerts", [{"labels": {"alertname": "A"}}])
    assert len(answer(api.call("GET", "/api/v2/alerts"))) == 1
    api.clock.advance(301)
    assert answer(api.call("GET", "/api/v2/alerts")) == []


def test_filters_receiver_and_state_flags(tmp_path: Path) -> None:
    """filter= matchers, receiver= regex and the active/silenced flags select as Alertmanager's do."""
    api = Api(tmp_path)
    api.call("POST", "/api/v2/alerts", [{"labels": {"alertname": n, "env": "prod"}} for n in ("A", "B")])
    api.silences.add(['alertname="B"'], NOW, NOW + 3600, "me", "quiet")

    def names(**query: list[str]) -> list[str]:
        return [a["labels"]["alertname"] for a in answer(api.call("GET", "/api/v2/alerts", **query))]

    assert sorted(names()) == ["A", "B"]
    assert names(filter=['{alertname=~"A|C"}']) == ["A"]
    assert names(filter=['env="prod"', 'alertname!="A"']) == ["B"]
    assert names(silenced=["false"]) == ["A"]
    assert names(active=["false"]) == ["B"]
    assert names(receiver=["te.*"]) != [] and names(receiver=["other"]) == []
    bad = api.call("GET", "/api/v2/alerts", active=["yes"])
    assert (bad.status, answer(bad)) == (400, "active must be true or false, not 'yes'")
    bad = api.call("GET", "/api/v2/alerts", filter=["alertname"])
    assert bad.status == 400 and "bad matcher format" in answer(bad)


def test_posting_a_silence_with_its_id_replaces_it(tmp_path: Path) -> None:
    """amtool's `silence update`: the old silence expires, the new one answers for it; unknown ids are 404."""
    api = Api(tmp_path)
    body = {
        "matchers": [{"name": "alertname", "value": "A", "isRegex": False, "isEqual": True}],
        "startsAt": format_rfc3339(NOW),
        "endsAt": format_rfc3339(NOW + 3600),
        "createdBy": "me",
        "comment": "first",
    }
    first = answer(api.call("POST", "/api/v2/silences", body))["silenceID"]
    second = answer(api.call("POST", "/api/v2/silences", {**body, "id": first, "comment": "second"}))["silenceID"]
    listed = {s["id"]: s["status"]["state"] for s in answer(api.call("GET", "/api/v2/silences"))}
    assert listed == {first: "expired", second: "active"}
    assert answer(api.call("GET", f"/api/v2/silence/{second}"))["comment"] == "second"

    missing = api.call("POST", "/api/v2/silences", {**body, "id": "no-such-id"})
    assert (missing.status, answer(missing)) == (404, "silence no-such-id not found")
    assert api.call("GET", "/api/v2/silence/no-such-id").status == 404
    assert api.call("DELETE", "/api/v2/silence/no-such-id").status == 404
    assert api.call("DELETE", f"/api/v2/silence/{second}").status == 200
    again = api.call("DELETE", f"/api/v2/silence/{second}")
    assert again.status == 400 and "already expired" in answer(again)


def test_silence_filters_match_the_silences_own_equality_matchers(tmp_path: Path) -> None:
    """Alertmanager's rule: a silence is listed when its `=` matchers, as labels, satisfy every filter."""
    api = Api(tmp_path)
    api.silences.add(['alertname="A"', 'env=~"prod|dev"'], NOW, NOW + 60, "me", "")
    api.silences.add(['alertname="B"'], NOW, NOW + 120, "me", "")
    names = [s["matchers"][0]["value"] for s in answer(api.call("GET", "/api/v2/silences", filter=['alertname="A"']))]
    assert names == ["A"]
    # env is a regex matcher in the silence, so a filter on env finds nothing (as in Alertmanager).
    assert answer(api.call("GET", "/api/v2/silences", filter=['env="prod"'])) == []
    ordered = [s["matchers"][0]["value"] for s in answer(api.call("GET", "/api/v2/silences"))]
    assert ordered == ["A", "B"]  # active ones by soonest end


def test_status_shows_the_alerting_sections_with_secrets_hidden(tmp_path: Path) -> None:
    """/api/v2/status config.original: what amtool parses as an Alertmanager config, no secret in it."""
    path = tmp_path / "tripwired.yaml"
    path.write_text(
        "global: {interval: 10s, resolve_timeout: 2m}\n"
        "collectors: {host: {enabled: false}}\n"
        "route: {receiver: team}\n"
        "receivers:\n  - name: team\n    pagerduty_configs: [{routing_key: abc123}]\n"
        "    webhook_configs: [{url: 'http://x', http_config: {basic_auth: {username: u, password: pw}}}]\n"
    )
    shown = alerting_config_yaml(str(path))
    assert "abc123" not in shown and "pw" not in shown.replace("pagerduty", "")
    assert "routing_key: <secret>" in shown and "password: <secret>" in shown
    assert "collectors" not in shown and "interval: 10s" not in shown and "resolve_timeout: 2m" in shown


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("/api/v2/silence/{id}", "/api/v2/silence/abc", {"id": "abc"}),
        ("/api/v2/silence/{id}", "/api/v2/silence/a%2Fb", {"id": "a/b"}),
        ("/api/v2/silence/{id}", "/api/v2/silence/", None),
        ("/api/v2/silence/{id}", "/api/v2/silence/a/b", None),
        ("/api/v2/silences", "/api/v2/silences", None),
    ],
)
def test_path_templates(template: str, path: str, params: dict[str, str] | None) -> None:
    """A `{name}` segment takes one non-empty, percent-decoded path segment; fixed paths are not templates."""
    assert match_path(template, path) == params
