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


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
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
    return Config() if path is None else load_config(path)


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
    from agent.config.load import parse_duration

    try:
        return parse_duration(text)
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
    from agent.runtime.validate import config_errors

    try:
        errors = config_errors(load_config(args.file), args.file)
    except ConfigError as exc:
        errors = exc.errors
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return EXIT_USAGE
    for warning in _compat_warnings(load_config(args.file), args.file):
        print(f"warning: {warning}")
    print(f"{args.file}: config is valid")
    return EXIT_OK


def _compat_warnings(config: Config, path: str) -> list[str]:
    """Rules whose results differ between promql_compat 3 and 2 (see agent/ruler/compat.py)."""
    import glob

    from agent.ruler.compat import compat_warnings
    from agent.ruler.rulefile import RuleFileError, load_rule_file
    from agent.runtime.daemon import config_semantics, rule_paths

    semantics = config_semantics(config)
    groups = []
    for pattern in rule_paths(config, path):
        for file in sorted(glob.glob(pattern)):
            try:
                groups.extend(load_rule_file(file, semantics))
            except RuleFileError:
                continue  # `tripwired rules check` reports these; the warnings are about valid rules
    return compat_warnings(groups, int(float(config.global_.interval) * 1000), semantics)


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
    from agent.config.load import parse_duration
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
            seconds = float(parse_duration(args.duration))
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


def _silence(args: argparse.Namespace) -> int:
    from agent.config.load import parse_duration
    from agent.runtime import silence_cli
    from agent.runtime.query import QueryError

    try:
        if args.action == "add":
            silence_cli.add(
                args.listen_address,
                args.matchers,
                float(parse_duration(args.duration)),
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
