"""The `tripwired` command: run the daemon, check configs and rules.

Exit codes: 0 ok, 1 a check or test failed, 2 bad usage, config or rule file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from agent import __version__
from agent.config import Config, ConfigError, load_config
from agent.config.schema import Duration, PromQLCompatSetting
from agent.promql.semantics import EXPERIMENTAL_FEATURE, Semantics, semantics_of

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_VERIFY_USAGE = 3  # `tripwired verify` exits 2 for an inconclusive verification


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tripwired` command line; returns the process exit status (Ctrl-C gives EXIT_FAILED)."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # `verify` exits 2 for inconclusive: its usage errors have a code of their own
        if exc.code == EXIT_USAGE and argv[:1] == ["verify"]:
            return EXIT_VERIFY_USAGE
        raise
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except KeyboardInterrupt:
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tripwired", description="Pipeline telemetry agent and tripwire daemon.")
    parser.add_argument("--version", action="version", version=f"tripwired {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    _add_run(commands)

    config = commands.add_parser("config", help="work with config files").add_subparsers(
        required=True, metavar="SUBCOMMAND"
    )
    config_check = config.add_parser("check", help="validate a config file without starting anything")
    config_check.add_argument("file")
    config_check.add_argument(
        "--syntax-only",
        action="store_true",
        help="check the config file alone: no rule files, and `*_file` secrets not read (they may not exist here)",
    )
    config_check.set_defaults(command=_config_check)

    rules = commands.add_parser("rules", help="check and unit-test rule files").add_subparsers(
        required=True, metavar="SUBCOMMAND"
    )
    rules_check = rules.add_parser("check", help="validate rule files (like promtool check rules)")
    rules_check.add_argument("files", nargs="+", metavar="FILE")
    _add_semantics_flags(rules_check)
    rules_check.set_defaults(command=_rules_check)
    rules_test = rules.add_parser("test", help="run rule unit tests in promtool's test-file format")
    rules_test.add_argument("files", nargs="+", metavar="FILE")
    _add_semantics_flags(rules_test)
    rules_test.set_defaults(command=_rules_test)

    routes = commands.add_parser("routes", help="test the notification routing tree").add_subparsers(
        required=True, metavar="SUBCOMMAND"
    )
    routes_test = routes.add_parser("test", help="run routing tests (which receivers labels reach, like amtool)")
    routes_test.add_argument("files", nargs="+", metavar="FILE")
    routes_test.set_defaults(command=_routes_test)

    query = commands.add_parser("query", help="evaluate a PromQL expression in a running daemon")
    query.add_argument("expr", metavar="EXPR")
    query.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default="127.0.0.1:9842",
        metavar="HOST:PORT",
        help="the daemon to ask (default 127.0.0.1:9842)",
    )
    query.add_argument("--time", default="", help="evaluation time, Unix seconds (default now)")
    query.add_argument(
        "--promql-compat", choices=("3", "2"), default="", help="PromQL semantics (default: the daemon's promql_compat)"
    )
    query.set_defaults(command=_query)

    _add_check(commands)
    _add_verify(commands)
    _add_release(commands)

    silence = commands.add_parser("silence", help="manage a running daemon's silences").add_subparsers(
        required=True, metavar="SUBCOMMAND"
    )
    for name, helptext in (
        ("add", "silence alerts matching MATCHER..."),
        ("list", "list silences"),
        ("expire", "expire silences by id"),
    ):
        sub = silence.add_parser(name, help=helptext)
        sub.add_argument(
            "--web.listen-address",
            dest="listen_address",
            default="127.0.0.1:9842",
            metavar="HOST:PORT",
            help="the daemon to ask (default 127.0.0.1:9842)",
        )
        sub.set_defaults(command=_silence, action=name)
        if name == "add":
            sub.add_argument("matchers", nargs="+", metavar="MATCHER", help='e.g. alertname=DiskFull warehouse="lake"')
            sub.add_argument("--duration", default="1h", help="how long (default 1h)")
            sub.add_argument("--author", default=getpass.getuser(), help="created by (default: your user name)")
            sub.add_argument("--comment", default="", help="why")
        elif name == "expire":
            sub.add_argument("ids", nargs="+", metavar="ID")

    notify = commands.add_parser("notify", help="notification tools").add_subparsers(
        required=True, metavar="SUBCOMMAND"
    )
    notify_test = notify.add_parser(
        "test", help="send a test notification to a receiver, or with --alerts render what each receiver gets"
    )
    notify_test.add_argument("--config", metavar="PATH", required=True, help="config file with the receivers")
    notify_test.add_argument("--receiver", metavar="NAME", help="the receiver (required without --alerts)")
    notify_test.add_argument(
        "--alerts", metavar="FILE", help="YAML/JSON alerts to route and render, without sending anything"
    )
    notify_test.set_defaults(command=_notify_test)
    return parser


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tripwired check`: the smoke test of a release."""
    check = commands.add_parser(
        "check",
        help="smoke test: run collectors and rules (or watch --url) for a while and check what appears",
        description="Exit 0 when every expectation held (without any: when no alert fired), 1 when one did not "
        "or the check would have passed vacuously, 2 on bad usage or config.",
    )
    source = check.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="PATH", help="config file to run in-process (default: built-in defaults)")
    source.add_argument("--url", help="watch a running tripwired or any Prometheus-compatible API instead")
    check.add_argument(
        "--duration", "--within", dest="duration", default="30s", help="how long to run and wait (default 30s)"
    )
    for flag, dest, what in (
        ("--expect-metric", "expect_metric", "EXPR: the PromQL expression returns a series within the run"),
        ("--expect-alert", "expect_alert", "NAME: the alert fires within the run"),
        ("--expect-firing", "expect_alert", argparse.SUPPRESS),  # the older spelling
        ("--expect-no-alert", "expect_no_alert", "NAME: the alert never fires during the run"),
    ):
        check.add_argument(flag, dest=dest, action="append", default=[], metavar="X", help=what)
    check.add_argument("--junit", metavar="FILE", help="also write the result as JUnit XML, for CI systems")
    check.add_argument(
        "--notify",
        action="store_true",
        help="send what fires to the configured receivers and Alertmanagers (default: notify nobody)",
    )
    check.add_argument(
        "--promql-compat", choices=("3", "2"), default="", help="PromQL semantics (default: the config's promql_compat)"
    )
    _add_feature_flag(check)
    check.set_defaults(command=_check)


def _add_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tripwired verify`: release verification against a baseline."""
    verify = commands.add_parser(
        "verify",
        help="release verification: measure the checks of FILE against the agent or a Prometheus",
        description="Exit 0 when every check passed, 1 when one failed (or its queries kept failing), "
        "2 when one was inconclusive (no data, no baseline, neither condition held), 3 on bad usage or checks file.",
    )
    verify.add_argument("file", metavar="FILE", help="the checks file (YAML)")
    verify.add_argument(
        "--url", default="http://127.0.0.1:9842", help="the agent or Prometheus API (default http://127.0.0.1:9842)"
    )
    marker = verify.add_mutually_exclusive_group()
    marker.add_argument(
        "--release", metavar="NAME", help="end the baseline window at the release `tripwired release mark NAME` marked"
    )
    marker.add_argument(
        "--release-time", metavar="TIME", help="end the baseline window at TIME (Unix seconds or RFC 3339; default now)"
    )
    verify.add_argument("--format", choices=("text", "json"), default="text", help="report format on stdout")
    verify.add_argument("--output", metavar="FILE", help="also write the report as JSON to FILE")
    verify.set_defaults(command=_verify)


def _add_release(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tripwired release mark`: annotate a release as metrics through the textfile directory."""
    release = commands.add_parser("release", help="annotate releases as metrics").add_subparsers(
        required=True, metavar="SUBCOMMAND"
    )
    mark = release.add_parser(
        "mark",
        help="write tripwired_release_info and tripwired_release_timestamp_seconds for the agent to export",
    )
    mark.add_argument("name", metavar="NAME", help="what was released (a pipeline, a service, a feature)")
    mark.add_argument("--version", dest="release_version", default="", help="its version (the `version` label)")
    where = mark.add_mutually_exclusive_group(required=True)
    where.add_argument("--textfile-directory", metavar="DIR", help="the textfile collector's directory")
    where.add_argument("--config", metavar="PATH", help="take the directory from this config's textfile collector")
    mark.add_argument("--time", default="", help="when, Unix seconds or RFC 3339 (default now)")
    mark.set_defaults(command=_release_mark)


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `run` command and its Prometheus-style flags."""
    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--config.file", "--config", dest="config", metavar="PATH", help="config file (default: built-in)")
    run.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        help="address for /metrics and the API (default 127.0.0.1:9842)",
    )
    run.add_argument(
        "--web.external-url",
        dest="external_url",
        metavar="URL",
        help="the URL people and proxies reach this agent at (alert links; its origin may post to the API)",
    )
    run.add_argument(
        "--web.route-prefix",
        dest="route_prefix",
        metavar="PATH",
        help="serve every endpoint under this path (default: the path of --web.external-url)",
    )
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="exporter-toolkit web config file: tls_server_config, basic_auth_users, http_server_config",
    )
    run.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="allow reload and shutdown over HTTP (POST /-/reload, /-/quit)",
    )
    run.add_argument("--path.procfs", dest="procfs", metavar="PATH", help="procfs mount point (default /proc)")
    run.add_argument("--path.sysfs", dest="sysfs", metavar="PATH", help="sysfs mount point (default /sys)")
    run.add_argument("--path.rootfs", dest="rootfs", metavar="PATH", help="host root mount point (default /)")
    run.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument("--log.format", dest="log_format", default="auto", choices=["auto", "json", "console"])
    run.add_argument(
        "--rules.alert.for-outage-tolerance",
        dest="for_outage_tolerance",
        type=_duration,
        metavar="DURATION",
        help="max downtime after which a pending alert's `for` starts over (default 1h; rules.for_outage_tolerance)",
    )
    run.add_argument(
        "--rules.alert.for-grace-period",
        dest="for_grace_period",
        type=_duration,
        metavar="DURATION",
        help="a restored pending alert fires no sooner than this after a start (default 10m; rules.for_grace_period)",
    )
    run.set_defaults(command=_run)


def _add_semantics_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--promql-compat", choices=("3", "2"), default="3", help="Prometheus 3 or 2.42 PromQL semantics (default 3)"
    )
    _add_feature_flag(command)


def _add_feature_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--enable-feature",
        action="append",
        default=[],
        choices=(EXPERIMENTAL_FEATURE,),
        help=f"as Prometheus' flag: {EXPERIMENTAL_FEATURE} enables sort_by_label, limitk, mad_over_time, ...",
    )


def _semantics(args: argparse.Namespace) -> Semantics:
    return semantics_of(args.promql_compat, experimental_functions=EXPERIMENTAL_FEATURE in args.enable_feature)


def _with_semantics(config: Config, args: argparse.Namespace) -> Config:
    """The config with `--promql-compat` and `--enable-feature` applied over its own settings."""
    compat = PromQLCompatSetting(args.promql_compat) if args.promql_compat else config.promql_compat
    experimental = config.promql_experimental_functions or EXPERIMENTAL_FEATURE in args.enable_feature
    return dataclasses.replace(config, promql_compat=compat, promql_experimental_functions=experimental)


def _load(path: str | None) -> Config:
    """The config file at `path`, or the built-in config (the shipped packs for what this machine has)."""
    from agent.runtime.builtin_config import builtin_config

    return builtin_config() if path is None else load_config(path)


def _with_overrides(config: Config, args: argparse.Namespace) -> Config:
    host = config.collectors.host
    host = dataclasses.replace(
        host, procfs=args.procfs or host.procfs, sysfs=args.sysfs or host.sysfs, rootfs=args.rootfs or host.rootfs
    )
    collectors = dataclasses.replace(config.collectors, host=host)
    web = dataclasses.replace(
        config.web,
        listen_address=args.listen_address or config.web.listen_address,
        external_url=args.external_url or config.web.external_url,
        route_prefix=args.route_prefix if args.route_prefix is not None else config.web.route_prefix,
        config_file=args.web_config_file or config.web.config_file,
        enable_lifecycle=args.enable_lifecycle or config.web.enable_lifecycle,
    )
    rules = dataclasses.replace(
        config.rules,
        for_outage_tolerance=args.for_outage_tolerance or config.rules.for_outage_tolerance,
        for_grace_period=args.for_grace_period or config.rules.for_grace_period,
    )
    return dataclasses.replace(config, collectors=collectors, web=web, rules=rules)


def _duration(text: str) -> Duration:
    """An argparse type: a Prometheus duration, or a usage error naming the flag's value."""
    from agent.gocompat.duration import parse_duration

    try:
        return Duration(parse_duration(text) / 1000)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    from agent.memory import tune_allocator
    from agent.runtime.daemon import Daemon, ListenAddressError, StartupError, parse_listen_address
    from agent.runtime.logs import configure_logging

    tune_allocator()  # before any thread starts
    json = None if args.log_format == "auto" else args.log_format == "json"
    configure_logging(args.log_level, json=json)

    async def run() -> int:
        try:
            config = _with_overrides(_load(args.config), args)
            parse_listen_address(config.web.listen_address)
            daemon = Daemon(config, config_path=args.config, overrides=lambda c: _with_overrides(c, args))
        except (ConfigError, ListenAddressError, StartupError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        return await daemon.run()

    return asyncio.run(run())


def _config_check(args: argparse.Namespace) -> int:
    """Everything the daemon would refuse at start-up: the config, and the rule files it names."""
    from agent.ruler.compat import compat_warnings
    from agent.ruler.rulefile import GroupSpec, RuleFileError, expand_rule_globs, load_rule_files
    from agent.runtime.daemon import config_semantics, rule_paths
    from agent.runtime.validate import config_errors

    try:
        config = load_config(args.file, read_secret_files=not args.syntax_only)
        errors = config_errors(config, args.file)
    except ConfigError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return EXIT_USAGE
    semantics = config_semantics(config)
    files = [] if args.syntax_only else expand_rule_globs(rule_paths(config, args.file))
    groups: list[GroupSpec] = []
    try:
        groups = load_rule_files(files, semantics)
    except RuleFileError as exc:
        errors += exc.errors
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return EXIT_USAGE
    for warning in compat_warnings(groups, int(float(config.global_.interval) * 1000), semantics):
        print(f"warning: {warning}")
    if args.syntax_only:
        print(f"{args.file}: config is valid (syntax only: rule files and secret files not read)")
        return EXIT_OK
    rules = sum(len(group.rules) for group in groups)
    print(f"{args.file}: config is valid ({len(files)} rule files, {len(groups)} groups, {rules} rules)")
    return EXIT_OK


def _rules_check(args: argparse.Namespace) -> int:
    from agent.ruler.ruletest import check_rules

    return check_rules(args.files, sys.stdout, _semantics(args))


def _routes_test(args: argparse.Namespace) -> int:
    from agent.notify.routetest import test_routes

    return test_routes(args.files, sys.stdout)


def _rules_test(args: argparse.Namespace) -> int:
    from agent.notify.routetest import is_route_test_file, test_routes
    from agent.ruler.ruletest import test_rules

    # Routing tests are `routes test`'s; `rules test` still runs them, the spelling before routes test existed.
    # They have a format of their own (promtool must never see it); rule tests are promtool's.
    route_files = [f for f in args.files if is_route_test_file(f)]
    rule_files = [f for f in args.files if f not in route_files]
    semantics = _semantics(args)
    if rule_files:
        print(f"PromQL semantics: {semantics.describe()}")
    codes = [
        test_rules(rule_files, sys.stdout, semantics) if rule_files else 0,
        test_routes(route_files, sys.stdout) if route_files else 0,
    ]
    return max(codes)


def _query(args: argparse.Namespace) -> int:
    from agent.runtime.query import QueryError, print_result, query_daemon

    try:
        data = query_daemon(args.listen_address, args.expr, args.time, args.promql_compat)
    except QueryError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    print_result(data, sys.stdout)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from agent.gocompat.duration import parse_duration
    from agent.runtime.check import Expectation, Kind, check_daemon, check_url, isolated, junit, report
    from agent.runtime.daemon import Daemon, StartupError
    from agent.runtime.logs import configure_logging

    configure_logging("warning")
    expectations = [
        *(Expectation(Kind.METRIC, expr) for expr in args.expect_metric),
        *(Expectation(Kind.ALERT, name) for name in args.expect_alert),
        *(Expectation(Kind.NO_ALERT, name) for name in args.expect_no_alert),
    ]

    async def run(state_dir: str) -> int:
        try:
            seconds = parse_duration(args.duration) / 1000
            if args.url:
                verdict = await check_url(args.url, expectations, seconds)
            else:
                config = _with_semantics(isolated(_load(args.config), state_dir=state_dir, notify=args.notify), args)
                daemon = Daemon(config, config_path=args.config)
                verdict = await check_daemon(daemon, expectations, seconds, notify=args.notify)
        except (ConfigError, StartupError, ValueError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        if args.junit:
            Path(args.junit).write_bytes(junit(verdict))
        return report(verdict, sys.stdout)

    # A private state directory: a daemon running with the same config keeps its own alert
    # state, silences and outbox to itself, and nothing `check` saw outlives it.
    with tempfile.TemporaryDirectory(prefix="tripwired-check-") as state_dir:
        return asyncio.run(run(state_dir))


def _unix_time(text: str) -> float:
    """Unix seconds or an RFC 3339 time (as Prometheus' API accepts them); ValueError otherwise."""
    from datetime import datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"invalid time {text!r} (use Unix seconds or RFC 3339)") from None


def _verify(args: argparse.Namespace) -> int:
    import json
    import time

    from agent.config.load import load_file
    from agent.config.verify import ChecksFile
    from agent.runtime import verify

    try:
        checks = load_file(ChecksFile, args.file, allow_empty=True)
        at = _unix_time(args.release_time) if args.release_time else time.time()
    except (ConfigError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_VERIFY_USAGE
    source = verify.PrometheusSource(args.url)
    if args.release:
        release = verify.find_release(source, args.release)
    else:
        release = verify.Release(at, note="--release-time" if args.release_time else "when verify started")
    results = asyncio.run(verify.verify(checks.checks, source, release))
    if args.output:
        try:
            Path(args.output).write_text(json.dumps(verify.as_json(results, release, args.url), indent=2) + "\n")
        except OSError as exc:
            print(f"cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return EXIT_VERIFY_USAGE
    if args.format == "json":
        return verify.write_json(results, release, args.url, sys.stdout)
    return verify.report(results, release, args.url, sys.stdout)


def _release_mark(args: argparse.Namespace) -> int:
    import time

    from agent.runtime.release import mark_release

    try:
        directory = args.textfile_directory or load_config(args.config).collectors.textfile.directory
        if not directory:
            raise ValueError(f"{args.config}: collectors.textfile.directory is not set")
        at = _unix_time(args.time) if args.time else time.time()
        path = mark_release(Path(directory), args.name, args.release_version, at)
    except (ConfigError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"cannot write the release marker: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{path}: release {args.name!r} marked")
    return EXIT_OK


def _silence(args: argparse.Namespace) -> int:
    from agent.gocompat.duration import parse_duration
    from agent.runtime import silence_cli
    from agent.runtime.query import QueryError

    try:
        if args.action == "add":
            silence_cli.add(
                args.listen_address,
                args.matchers,
                parse_duration(args.duration) / 1000,
                author=args.author,
                comment=args.comment,
                out=sys.stdout,
            )
        elif args.action == "list":
            silence_cli.list_silences(args.listen_address, sys.stdout)
        else:
            silence_cli.expire(args.listen_address, args.ids)
    except QueryError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _notify_test(args: argparse.Namespace) -> int:
    from agent.runtime.preview_notifications import preview
    from agent.runtime.send_test_notification import send_test_notification

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if args.alerts is not None:
        return preview(config, args.alerts, sys.stdout, sys.stderr, args.receiver)
    if args.receiver is None:
        print("notify test: give --receiver NAME to send a test notification, or --alerts FILE", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(send_test_notification(config, args.receiver, sys.stdout))
