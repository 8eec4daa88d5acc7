"""Fuzzing with Hypothesis: every parser of user input, and the HTTP server, only ever answer with an error.

The config loader, rule files, rule test files, the textfile parser and a real daemon's HTTP
server are fed random bytes and, more usefully, near-valid documents built from strategies
(config documents shaped by the schema's own dataclasses, rule files with broken PromQL and
templates, malformed requests). Each must return its own error type with a message, or an HTTP
4xx / a closed connection: never another exception, never a hang. The number of inputs tried per
target is printed in the test session's summary ("fuzz inputs tried").

Examples are bounded so all targets together take well under 30 s; Hypothesis picks new inputs
on every run and prints the failing one, reproducibly, when it finds one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import io
import socket
import tempfile
import types
import typing
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.collect.textfile import TextfileError, parse_textfile, read_textfile
from agent.config.load import ConfigError, load_text
from agent.config.schema import Config, Duration, Secret
from agent.ruler import testfile
from agent.ruler.rulefile import RuleFileError, parse_rule_text
from agent.ruler.ruletest import run_test_file
from agent.runtime.validate import config_errors
from tests.conftest import DaemonProcess

TRIED: dict[str, Counter[str]] = {}  # target -> outcome -> inputs


def tried(target: str, outcome: str) -> None:
    TRIED.setdefault(target, Counter())[outcome] += 1


def fuzz(max_examples: int) -> Any:
    """Hypothesis settings for one target: bounded, no example database in the repository.

    Derandomized: every run tries the same inputs, so a red CI run is always a regression that
    reproduces, never a new seed's luck; raise max_examples locally to explore further.
    """
    return settings(
        max_examples=max_examples,
        derandomize=True,
        # One input taking this long is a hang, not slowness: the slowest here (2,000 nested brackets)
        # takes 0.8 s on a quiet machine and took 10 s at a load average of 15.
        deadline=timedelta(seconds=60),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )


class _Summary:
    """A pytest plugin this module registers: prints how many inputs each target was fed."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if TRIED:
            terminalreporter.section("fuzz inputs tried")
            for target, outcomes in sorted(TRIED.items()):
                detail = ", ".join(f"{outcome} {n}" for outcome, n in sorted(outcomes.items()))
                terminalreporter.write_line(f"{target}: {outcomes.total()} inputs ({detail})")


# Function-scoped (registering is idempotent and cheap): a module-scoped fixture would put every test
# of this module on one xdist worker (tests/conftest.py), and only the daemon's tests share a peer.
@pytest.fixture(autouse=True)
def report_inputs_tried(request: pytest.FixtureRequest) -> None:
    if not request.config.pluginmanager.has_plugin("tripwired-fuzz-summary"):
        request.config.pluginmanager.register(_Summary(), "tripwired-fuzz-summary")


# -- strategies shared by the targets ---------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["5m", "0s", "-1s", "1h30m", "1y", "1e9h", "10", "", "${env:HOME}", "${env:NOPE}", "~", "null"]),
)
JUNK: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# YAML that stresses the parser rather than the schema: deep nesting, aliases, tags, odd scalars.
NASTY_YAML = st.one_of(
    st.sampled_from([5, 50, 2000]).map(lambda n: "[" * n + "]" * n),
    st.sampled_from([5, 50, 2000]).map(lambda n: "a: " * n + "1"),
    st.sampled_from(["a: &a [*a]", "route: &r {receiver: a, routes: [*r]}", "groups: &g [{name: g, rules: *g}]"]),
    st.integers(1, 30).map(
        lambda n: "a0: &a0 [x, x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, n))
    ),
    st.sampled_from(["!!python/object:os.system x", "? [a, b]\n: c", "{a: 1, a: 2}", "--- 1\n--- 2", "%YAML 9.9\n---"]),
    st.text(max_size=200),
)


def for_type(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a config field of type `tp`: mostly of the right shape, sometimes junk."""
    if depth >= 6:  # routes nest routes: stop somewhere
        return JUNK
    right = _shaped(tp, depth)
    return st.one_of(right, right, right, JUNK)


def _shaped(tp: Any, depth: int) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(for_type(a, depth) for a in typing.get_args(tp)))
    if dataclasses.is_dataclass(tp):
        return _document(typing.cast(type, tp), depth + 1)
    if origin is list:
        return st.lists(for_type(typing.get_args(tp)[0], depth + 1), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=10), for_type(typing.get_args(tp)[1], depth + 1), max_size=3)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from([m.value for m in tp])
    return _SCALAR_SHAPES.get(tp, SCALARS)


_SCALAR_SHAPES: dict[Any, st.SearchStrategy[Any]] = {
    type(None): st.none(),
    bool: st.booleans(),
    int: st.integers(min_value=-(2**40), max_value=2**40),
    float: st.floats(),
    str: st.text(max_size=20) | st.sampled_from(["127.0.0.1:0", "http://127.0.0.1:1/x", "a=~b", "{{ .x }}"]),
    Secret: st.text(max_size=20),
    Duration: st.sampled_from(["0s", "1s", "5m", "1h30m", "-5m", "1.5s", "1y2w", "99999999999y", "x", "0"]),
}


def _document(cls: type, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key", f.name)
        optional[key] = for_type(hints[f.name], depth)
        if f.metadata.get("secret"):
            optional[f"{key}_file"] = st.sampled_from(["missing-secret", "", "/", "a\0b", "/proc/self/status"])
    return st.fixed_dictionaries({}, optional=optional)


def dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


# -- the config loader ------------------------------------------------------------------------


def load_config_text(text: str) -> None:
    """What `tripwired config check` does to a config: load, then the checks the types cannot express."""
    try:
        config = load_text(Config, text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.errors and all(e.startswith("fuzz.yaml") for e in exc.errors), exc.errors
        tried("config loader", "refused")
        return
    errors = config_errors(config, "fuzz.yaml")
    assert all(error.startswith("fuzz.yaml") for error in errors), errors
    tried("config loader", "refused" if errors else "accepted")


@fuzz(250)
@given(st.one_of(NASTY_YAML, JUNK.map(dump)))
def test_the_config_loader_refuses_random_yaml_with_its_own_errors(text: str) -> None:
    """Random text, random YAML values, deep nesting and alias bombs as a config file."""
    load_config_text(text)


@fuzz(250)
@given(_document(Config, 0).map(dump))
def test_the_config_loader_refuses_near_valid_configs_with_its_own_errors(text: str) -> None:
    """Config documents shaped by the schema, with wrong types, bad durations and odd secret files."""
    load_config_text(text)


# -- rule files ---------------------------------------------------------------------------------

EXPRS = st.one_of(
    st.sampled_from(
        [
            "up == 0",
            "rate(x[5m]) > 1",
            "increase(kafka_topic_partition_current_offset[5m]) == 0",
            "sum by (job) (rate(x[1m]))",
            "histogram_quantile(0.9, rate(x_bucket[5m]))",
            "absent_over_time(x[10m])",
            "x offset 5m @ 100",
            "x{a=~'(', b!~''}",
            "topk(2, x)[5m:1m]",
            "label_replace(x, 'a', '$1', 'b', '(.*)')",
            "1 / 0",
            "",
            "x[",
        ]
    ),
    st.text(max_size=40),
)
TEMPLATES = st.one_of(
    st.sampled_from(
        [
            "{{ $value }}",
            "{{ $labels.job }} {{ humanize $value }}",
            "{{ range query `up` }}{{ .Labels.job }}{{ end }}",
            "{{ if gt $value 1.0 }}big{{ else }}small{{ end }}",
            "{{ template `x` }}",
            "{{ $value | printf `%d` }}",
            "{{",
            "{{ end }}",
            "{{ .Nope.Nope }}",
        ]
    ),
    st.text(max_size=30),
)
NAMES = st.one_of(st.sampled_from(["DiskFull", "job:rate5m", "a b", "", "x"]), st.text(max_size=12))
RULES = st.fixed_dictionaries(
    {"expr": EXPRS | JUNK},
    optional={
        "alert": NAMES,
        "record": NAMES,
        "for": _SCALAR_SHAPES[Duration],
        "keep_firing_for": _SCALAR_SHAPES[Duration],
        "labels": st.dictionaries(NAMES, TEMPLATES | JUNK, max_size=3),
        "annotations": st.dictionaries(NAMES, TEMPLATES | JUNK, max_size=3),
        "extra": JUNK,
    },
)
GROUPS = st.fixed_dictionaries(
    {"name": NAMES, "rules": st.lists(RULES, max_size=3) | JUNK},
    optional={"interval": _SCALAR_SHAPES[Duration], "limit": SCALARS, "query_offset": _SCALAR_SHAPES[Duration]},
)
RULE_FILES = st.fixed_dictionaries({"groups": st.lists(GROUPS, max_size=3) | JUNK})


def parse_rules(text: str) -> None:
    try:
        parse_rule_text(text, "fuzz.rules.yaml")
    except RuleFileError as exc:
        assert exc.errors and all(e.startswith("fuzz.rules.yaml") for e in exc.errors), exc.errors
        tried("rule files", "refused")
        return
    tried("rule files", "accepted")


@fuzz(250)
@given(st.one_of(NASTY_YAML, JUNK.map(dump)))
def test_rule_files_of_random_yaml_are_refused_with_rule_file_errors(text: str) -> None:
    """Random text, random YAML values, deep nesting and alias bombs as a rule file."""
    parse_rules(text)


@fuzz(250)
@given(RULE_FILES.map(dump))
def test_near_valid_rule_files_are_refused_with_rule_file_errors(text: str) -> None:
    """Rule files with broken PromQL, broken templates, bad durations and duplicate or odd names."""
    parse_rules(text)


# -- rule test files ------------------------------------------------------------------------------

SERIES_VALUES = st.one_of(
    st.sampled_from(["1 2 3", "0+1x5", "1+0x3 _ stale", "_x3", "1e3 -1 NaN Inf", "0-1x2", "x", "1x", "+"]),
    st.text(max_size=20),
)
TEST_GROUPS = st.fixed_dictionaries(
    {},
    optional={
        "interval": _SCALAR_SHAPES[Duration],
        "input_series": st.lists(
            st.fixed_dictionaries({"series": st.sampled_from(["up", 'x{a="1"}', "x{", ""]), "values": SERIES_VALUES}),
            max_size=3,
        )
        | JUNK,
        "alert_rule_test": st.lists(
            st.fixed_dictionaries(
                {"eval_time": _SCALAR_SHAPES[Duration], "alertname": NAMES},
                optional={"exp_alerts": st.lists(st.fixed_dictionaries({}, optional={"exp_labels": JUNK}))},
            ),
            max_size=2,
        )
        | JUNK,
        "promql_expr_test": st.lists(
            st.fixed_dictionaries(
                {"expr": EXPRS, "eval_time": _SCALAR_SHAPES[Duration]},
                optional={"exp_samples": st.lists(st.fixed_dictionaries({}, optional={"labels": JUNK, "value": JUNK}))},
            ),
            max_size=2,
        )
        | JUNK,
        "external_labels": JUNK,
    },
)
TEST_FILES = st.fixed_dictionaries(
    {"tests": st.lists(TEST_GROUPS, max_size=2) | JUNK},
    optional={"rule_files": JUNK, "evaluation_interval": _SCALAR_SHAPES[Duration], "group_eval_order": JUNK},
)


@contextlib.contextmanager
def scratch_file(name: str, data: bytes) -> Iterator[Path]:
    """`data` in a file of a fresh directory, removed afterwards: one per input (Hypothesis runs many per test)."""
    with tempfile.TemporaryDirectory(prefix="tripwired-fuzz-") as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        yield path


def run_rule_test_file(text: str) -> None:
    with scratch_file("fuzz.test.yaml", text.encode("utf-8")) as path:
        try:
            testfile.load_test_file(str(path))
        except testfile.TestFileError as exc:
            assert str(exc), "an error without a message"  # promtool's words; `rules test` names the file above
            tried("rule test files", "refused")
            return
        failures = run_test_file(str(path), io.StringIO())  # the runner turns every problem into a failure message
    tried("rule test files", "run, failed" if failures else "run, passed")


@fuzz(150)
@given(text=st.one_of(NASTY_YAML, JUNK.map(dump)))
def test_rule_test_files_of_random_yaml_are_refused_with_test_file_errors(text: str) -> None:
    """Random text, random YAML values, deep nesting and alias bombs as a rule test file."""
    run_rule_test_file(text)


@fuzz(200)
@given(text=TEST_FILES.map(dump))
def test_near_valid_rule_test_files_fail_with_messages_not_exceptions(text: str) -> None:
    """Rule test files with broken series notation, expressions and expectations, loaded and run."""
    run_rule_test_file(text)


# -- the textfile parser --------------------------------------------------------------------------

METRIC_NAMES = st.one_of(st.sampled_from(["node_x", "a:b", "x_total", "x_bucket", "0bad", ""]), st.text(max_size=8))
LABEL_VALUES = st.one_of(st.sampled_from(['"', "\\", "\\n", "\n", "é", ""]), st.text(max_size=8))
VALUES = st.one_of(
    st.sampled_from(["1", "-1", "NaN", "+Inf", "-Inf", "1e400", "0x10", "", "1 2", "1_0"]),
    st.floats().map(repr),
    st.text(max_size=6),
)
SAMPLE_LINES = st.builds(
    lambda name, labels, value, ts: f"{name}{labels} {value}{ts}",
    METRIC_NAMES,
    st.dictionaries(METRIC_NAMES, LABEL_VALUES, max_size=3).map(
        lambda d: "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}" if d else ""
    )
    | st.sampled_from(["{", "{a=}", '{a="1",a="2"}', '{a="1"', "{}"]),
    VALUES,
    st.sampled_from(["", " 1700000000000", " -1", " x", " 1e30"]),
)
META_LINES = st.builds(
    lambda kind, name, rest: f"# {kind} {name} {rest}",
    st.sampled_from(["HELP", "TYPE", "EOF", "UNIT"]),
    METRIC_NAMES,
    st.sampled_from(["counter", "gauge", "histogram", "summary", "untyped", "info", "stateset", "", "a\\nb"]),
)
TEXTFILES = st.lists(st.one_of(SAMPLE_LINES, META_LINES, st.text(max_size=20)), max_size=12).map("\n".join)


@fuzz(300)
@given(text=TEXTFILES)
def test_the_textfile_parser_refuses_malformed_exposition_with_textfile_errors(text: str) -> None:
    """Sample, HELP and TYPE lines with odd names, labels, escapes, values and timestamps."""
    try:
        parse_textfile(text)
    except TextfileError as exc:
        assert str(exc), "an error without a message"
        tried("textfile parser", "refused")
        return
    tried("textfile parser", "accepted")


@fuzz(150)
@given(raw=st.binary(max_size=400) | TEXTFILES.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_a_textfile_of_random_bytes_is_reported_not_raised(raw: bytes) -> None:
    """Random bytes (invalid UTF-8 included) as a *.prom file, read as the collector reads it."""
    with scratch_file("fuzz.prom", raw) as path:
        _, result = read_textfile(str(path))
    tried("textfile parser", "accepted" if result.error is None else "refused")


# -- HTTP request handling of a real daemon -------------------------------------------------------

HTTP_TIMEOUT = 5.0
PATHS = st.sampled_from(
    [
        "/metrics",
        "/-/healthy",
        "/-/ready",
        "/-/reload",
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v2/silences",
        "/api/v2/silence/x",
        "/api/v2/alerts",
        "/api/v2/alerts/groups",
        "/api/v2/status",
        "/graph",
        "/",
        "/status",
        "//",
        "/%00",
        "*",
        "http://x/metrics",
    ]
)
QUERY = st.dictionaries(
    st.sampled_from(["query", "start", "end", "step", "time", "match[]", "timeout", "limit", "filter", "x"]),
    st.one_of(
        st.sampled_from(["up", "rate(x[5m])", "1e308", "-1", "NaN", "2026-01-01T00:00:00Z", "0.001", "{", "%zz"]),
        st.text(max_size=20),
    ),
    max_size=4,
).map(lambda q: "&".join(f"{k}={quote(v)}" for k, v in q.items()))
HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            ["Host", "Content-Type", "Content-Length", "Transfer-Encoding", "Origin", "Authorization", "X"]
        ),
        st.one_of(
            st.sampled_from(["application/json", "text/plain", "chunked", "-1", "99999999999", "0", "Basic !!", ""]),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        ),
    ),
    max_size=5,
)
BODIES = st.one_of(
    st.just(b""),
    st.sampled_from([b"{}", b'{"matchers": []}', b"[", b'{"endsAt": 1}', b"0\r\n\r\n", b"zz\r\n"]),
    st.binary(max_size=200),
)


def _request(line: tuple[str, str, str, str], headers: list[tuple[str, str]], body: bytes) -> bytes:
    method, path, query, version = line
    target = f"{path}?{query}" if query else path
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("utf-8", "surrogatepass") + b"\r\n" + body


BENIGN_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["Content-Type", "Origin", "Authorization", "Accept", "X-Forwarded-For"]),
        st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", "Basic !!", "null"]),
    ),
    max_size=3,
)


def _well_formed(method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """A request h11 accepts, so that it reaches a handler: Host and a Content-Length that fits."""
    line = (method, path, query, "HTTP/1.1")
    return _request(line, [("Host", "127.0.0.1"), *headers, ("Content-Length", str(len(body)))], body)


# Half well-formed at the protocol level (they reach the handlers), half not (they test the framing).
REQUESTS = st.builds(
    _well_formed, st.sampled_from(["GET", "POST", "HEAD", "DELETE", "PUT"]), PATHS, QUERY, BENIGN_HEADERS, BODIES
) | st.builds(
    _request,
    st.tuples(
        st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "get", "G ET", ""]),
        PATHS,
        QUERY,
        st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9", "", "HTTP/1.1 x"]),
    ),
    st.builds(lambda host, headers: [("Host", "127.0.0.1"), *headers] if host else headers, st.booleans(), HEADERS),
    BODIES,
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """A `tripwired run` with rules, routes and a receiver, so every API has something to say."""
    scratch = tmp_path_factory.mktemp("fuzz-daemon")
    rules = scratch / "rules.yaml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: Always\n        expr: vector(1)\n")
    config = f"""
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {scratch / "state"}
rule_files: [{rules}]
collectors: {{host: {{enabled: false}}}}
route: {{receiver: nowhere}}
receivers: [{{name: nowhere, webhook_configs: [{{url: "http://127.0.0.1:9/hook"}}]}}]
"""
    process = DaemonProcess(scratch, config)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, half-close, and read until the server closes; fails on a hang."""
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as sock:
        sock.settimeout(HTTP_TIMEOUT)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the server already closed: a refusal is a fine answer
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError as exc:
                raise AssertionError(f"no answer within {HTTP_TIMEOUT}s to {data[:200]!r}") from exc
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def assert_no_server_error(daemon: DaemonProcess, data: bytes) -> None:
    answer = exchange(daemon.port, data)
    statuses = [int(line.split()[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    for status in statuses:
        # 501 is RFC 9112's answer to a transfer coding the server does not implement (Go's net/http
        # gives it too); any other 5xx is the server failing on bad input.
        refused_coding = status == 501 and b"Transfer-Encoding" in answer
        assert status < 500 or refused_coding, f"{status} for {data[:300]!r}:\n{answer[:500]!r}"
    assert daemon.proc.poll() is None, daemon.log()
    tried("http requests", f"last answer {statuses[-1] // 100}xx" if statuses else "closed without answer")


@fuzz(100)
@given(data=st.binary(max_size=300))
def test_random_bytes_to_the_http_server_get_a_4xx_or_a_close(daemon: DaemonProcess, data: bytes) -> None:
    """Random bytes sent to the daemon's HTTP port."""
    assert_no_server_error(daemon, data)


@fuzz(200)
@given(data=st.lists(REQUESTS, min_size=1, max_size=3).map(b"".join))
def test_malformed_requests_get_a_4xx_or_a_close_and_the_server_keeps_serving(
    daemon: DaemonProcess, data: bytes
) -> None:
    """Pipelined requests with odd methods, targets, query strings, headers, lengths and bodies."""
    assert_no_server_error(daemon, data)
    healthy = exchange(daemon.port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    assert healthy.startswith(b"HTTP/1.1 200"), healthy[:200]


def test_no_handler_failed_while_fuzzed(daemon: DaemonProcess) -> None:
    """After every fuzz input above, the daemon logged no handler failure and is healthy."""
    assert (True, 0) == (daemon.get("/-/healthy").status_code == 200, daemon.log().count("http_handler_failed"))
