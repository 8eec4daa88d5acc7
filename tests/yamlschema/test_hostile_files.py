"""Bad files of every kind a user writes get one error that names the file, the line and the field.

The four kinds (config, rule file, rule-test file, routing test) share one YAML schema layer
(agent/yamlschema). Each case writes a broken file as a user would, loads it through the product's
own entry point, and asserts the error text a user reads. Rule and rule-test files are also handed
to promtool 2.42, which must refuse (or accept) the same file.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.notify.routetest import run_route_test_file
from agent.promql import PromQLCompat, Semantics
from agent.ruler import ruletest, testfile
from agent.ruler.rulefile import RuleFileError, load_rule_file
from tests.conftest import require_binary

V2 = Semantics(PromQLCompat.V2)  # the semantics promtool 2.42 checks with


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", "prometheus")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


# -- config files: `file:line: field: message` ----------------------------------------------------

CONFIG_CASES = {
    "unknown key": ("web:\n  listen_adress: x\n", "cfg.yaml:2: web.listen_adress: unknown field 'listen_adress'"),
    "wrong type": ("web:\n  max_connections: many\n", "cfg.yaml:2: web.max_connections: expected an integer"),
    "bad duration": ("global:\n  interval: 10 seconds\n", "cfg.yaml:2: global.interval: invalid duration"),
    "missing required field": (
        "collectors:\n  kafka:\n    - name: main\n",
        "cfg.yaml:3: collectors.kafka[0]: missing required field 'bootstrap_servers'",
    ),
    "list where a mapping belongs": ("web:\n  - listen_address\n", "cfg.yaml:2: web: expected a mapping, got a list"),
    "YAML syntax error": ("web:\n  listen_address: [\n", "cfg.yaml:3: invalid YAML: "),
    "non-UTF-8 bytes": (b"state_dir: /var/lib/\xff\n", "cfg.yaml:1: invalid YAML: byte 0xff is not UTF-8 text"),
    "empty file": ("# nothing yet\n", "cfg.yaml:1: the config file is empty"),
}


@pytest.mark.parametrize("case", CONFIG_CASES, ids=str)
def test_bad_config_file_names_file_line_and_field(tmp_path: Path, case: str) -> None:
    """A config file with a typo, a wrong type, a bad duration, a missing field, bad YAML or bad bytes."""
    content, expected = CONFIG_CASES[case]
    path = write(tmp_path, "cfg.yaml", content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [error] = caught.value.errors
    assert error.startswith(f"{tmp_path}/{expected}"), error


def test_config_repeated_key_still_takes_the_last_value(tmp_path: Path) -> None:
    """A config file with a key written twice: accepted as before (the last wins), unlike promtool's files."""
    path = write(tmp_path, "cfg.yaml", "state_dir: a\nstate_dir: b\n")
    assert "b" == load_config(path).state_dir


# -- rule files: `file:line:column: group/rule: field: message`, as promtool words them -------------

RULE = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
RULE_CASES = {
    "unknown key": (RULE + "        severity: page\n", 'r.yaml:6:9: group "g", rule 1, "A": field severity not found'),
    "wrong type": (
        "groups:\n  - name: g\n    limit: many\n    rules: []\n",
        'r.yaml:3:12: group "g": limit: expected an integer',
    ),
    "bad duration": (
        RULE + "        for: 5 minutes\n",
        'r.yaml:6:14: group "g", rule 1, "A": for: not a valid duration',
    ),
    "missing required field": (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n",
        'r.yaml:4:9: group "g", rule 1, "A": field \'expr\' must be set in rule',
    ),
    "list where a mapping belongs": (
        RULE + "        labels: [severity]\n",
        'r.yaml:6:17: group "g", rule 1, "A": labels: expected a mapping, got a list',
    ),
    "repeated key": (RULE + "        expr: down\n", 'r.yaml:6:9: groups[0].rules[0].expr: mapping key "expr" already'),
    "repeated label": (
        RULE + "        labels: {a: x, a: y}\n",
        'r.yaml:6:24: groups[0].rules[0].labels.a: mapping key "a" already defined at line 6',
    ),
    "YAML syntax error": ("groups:\n  - name: [\n", "r.yaml:3:1: invalid YAML: "),
    "non-UTF-8 bytes": (RULE.encode() + b"        labels: {a: \xff}\n", "r.yaml:6: invalid YAML: byte 0xff"),
}


@pytest.mark.parametrize("case", RULE_CASES, ids=str)
def test_bad_rule_file_names_file_line_and_field_and_promtool_refuses_it_too(tmp_path: Path, case: str) -> None:
    """A rule file with a typo, a wrong type, a bad duration, no expr, a repeated key, bad YAML or bad bytes."""
    content, expected = RULE_CASES[case]
    path = write(tmp_path, "r.yaml", content)
    with pytest.raises(RuleFileError) as caught:
        load_rule_file(str(path), V2)
    assert caught.value.errors[0].startswith(f"{tmp_path}/{expected}"), caught.value.errors
    assert 1 == promtool("check", "rules", str(path)).returncode


def test_empty_rule_file_has_no_rules_as_in_promtool(tmp_path: Path) -> None:
    """An empty rule file: zero rules, and promtool says the same."""
    path = write(tmp_path, "r.yaml", "")
    assert ([], 0) == (load_rule_file(str(path), V2), promtool("check", "rules", str(path)).returncode)


# -- rule-test files: `file:line:column: field: message` --------------------------------------------

TEST = "rule_files: []\ntests:\n  - interval: 1m\n"
TEST_CASES = {
    "unknown key": (
        "evaluation_intervall: 1m\n" + TEST,
        "t.yaml:1:1: evaluation_intervall: field evaluation_intervall",
    ),
    "wrong type": (
        TEST + "    promql_expr_test:\n      - expr: up\n        exp_samples: [{value: many}]\n",
        "t.yaml:6:31: tests[0].promql_expr_test[0].exp_samples[0].value: expected a number, got 'many'",
    ),
    "bad duration": (
        "evaluation_interval: 1 minute\n" + TEST,
        "t.yaml:1:22: evaluation_interval: not a valid duration string",
    ),
    "list where a mapping belongs": (
        TEST + "    external_labels: [a]\n",
        "t.yaml:4:22: tests[0].external_labels: expected a mapping, got a list",
    ),
    "repeated key": (TEST + "    interval: 2m\n", 't.yaml:4:5: tests[0].interval: mapping key "interval" already'),
    "YAML syntax error": (TEST + "    input_series: [\n", "t.yaml:5:1: invalid YAML: "),
    "non-UTF-8 bytes": (TEST.encode() + b"    name: \xfe\n", "t.yaml:4: invalid YAML: byte 0xfe"),
}


@pytest.mark.parametrize("case", TEST_CASES, ids=str)
def test_bad_rule_test_file_names_file_line_and_field_and_promtool_refuses_it_too(tmp_path: Path, case: str) -> None:
    """A rule-test file with a typo, a wrong type, a bad duration, a repeated key, bad YAML or bad bytes."""
    content, expected = TEST_CASES[case]
    path = write(tmp_path, "t.yaml", content)
    with pytest.raises(testfile.TestFileError) as caught:
        testfile.load_test_file(str(path), V2)
    assert caught.value.errors[0].startswith(f"{tmp_path}/{expected}"), caught.value.errors
    assert 1 == promtool("test", "rules", str(path)).returncode


def test_rule_test_file_reports_every_error_at_once_like_promtool(tmp_path: Path) -> None:
    """A rule-test file with three mistakes in three places: all three reported, each with its line."""
    path = write(tmp_path, "t.yaml", "rule_files: []\nbogus: 1\ntests:\n  - interval: 1 minute\n    other: 2\n")
    out = io.StringIO()
    assert 1 == ruletest.test_rules([str(path)], out, V2)
    failures = [f for f in out.getvalue().split("FAILED:\n")[1].split("\n\n") if f.strip()]
    places = [f"{path}:2:1: bogus: ", f"{path}:4:15: tests[0].interval: ", f"{path}:5:5: tests[0].other: "]
    assert places == [failure[: len(place)] for failure, place in zip(failures, places, strict=True)]


def test_empty_rule_test_file_passes_as_in_promtool(tmp_path: Path) -> None:
    """An empty rule-test file: nothing to test, and promtool says the same."""
    path = write(tmp_path, "t.yaml", "")
    assert (0, 0) == (
        ruletest.test_rules([str(path)], io.StringIO(), V2),
        promtool("test", "rules", str(path)).returncode,
    )


# -- routing tests: the test file and the config it routes with ------------------------------------

CONFIG = (
    "route:\n  receiver: default\n  routes:\n    - receiver: pager\nreceivers:\n  - name: default\n  - name: pager\n"
)
ROUTES = "config: tripwired.yaml\nroute_tests:\n  - labels: {a: b}\n    receivers: [default]\n"
ROUTE_CASES = {
    "unknown key": (ROUTES + "    receiver: x\n", CONFIG, "routes.yaml:5: route_tests[0].receiver: unknown field"),
    "wrong type": (
        ROUTES.replace("{a: b}", "{a: [b]}"),
        CONFIG,
        "routes.yaml:3: route_tests[0].labels.a: expected a string, got a list",
    ),
    "bad duration in the config": (
        ROUTES,
        CONFIG.replace("  receiver: default\n", "  receiver: default\n  group_wait: soon\n"),
        "tripwired.yaml:3: route.group_wait: invalid duration 'soon'",
    ),
    "undefined receiver in the config": (
        ROUTES,
        CONFIG.replace("receiver: pager", "receiver: pagr"),
        "tripwired.yaml:4: route.routes[0].receiver: undefined receiver 'pagr' used in route",
    ),
    "missing required field": (
        "config: tripwired.yaml\nroute_tests:\n  - labels: {a: b}\n",
        CONFIG,
        "routes.yaml:3: route_tests[0]: missing required field 'receivers'",
    ),
    "list where a mapping belongs": (
        ROUTES.replace("{a: b}", "[a]"),
        CONFIG,
        "routes.yaml:3: route_tests[0].labels: expected a mapping, got a list",
    ),
    "YAML syntax error in the config": (ROUTES, CONFIG + "inhibit_rules: [\n", "tripwired.yaml:9: invalid YAML: "),
    "non-UTF-8 bytes": (ROUTES.encode() + b"# \xc3\x28\n", CONFIG, "routes.yaml:5: invalid YAML: byte 0xc3"),
    "empty file": ("", CONFIG, "routes.yaml:1: missing required field 'config'"),
    "config without a route": (ROUTES, "receivers: []\n", "tripwired.yaml:1: route: no route in the config file"),
}


@pytest.mark.parametrize("case", ROUTE_CASES, ids=str)
def test_bad_routing_test_names_file_line_and_field(tmp_path: Path, case: str) -> None:
    """A routing test file, or the config it names, with a typo, a wrong type, a bad duration, bad YAML or bytes."""
    routes, config, expected = ROUTE_CASES[case]
    write(tmp_path, "tripwired.yaml", config)
    path = write(tmp_path, "routes.yaml", routes)
    [error] = run_route_test_file(str(path))
    assert error.startswith(f"{tmp_path}/{expected}"), error
