"""The `tripwired` command: run the daemon, check configs and rules.

Exit codes: 0 ok, 1 a check or test failed, 2 bad usage, config or rule file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Callable, Sequence

from agent import __version__
from agent.config import Config, ConfigError, load_config

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

    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--config", metavar="PATH", help="config file (default: built-in defaults)")
    run.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT",
                     help="address for /metrics and the API (default 127.0.0.1:9842)")
    run.add_argument("--path.procfs", dest="procfs", metavar="PATH", help="procfs mount point (default /proc)")
    run.add_argument("--path.sysfs", dest="sysfs", metavar="PATH", help="sysfs mount point (default /sys)")
    run.add_argument("--path.rootfs", dest="rootfs", metavar="PATH", help="host root mount point (default /)")
    run.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument("--log.format", dest="log_format", default="auto", choices=["auto", "json", "console"])
    run.set_defaults(command=_run)

    config = commands.add_parser("config", help="work with config files").add_subparsers(required=True,
                                                                                       metavar="SUBCOMMAND")
    config_check = config.add_parser("check", help="validate a config file without starting anything")
    config_check.add_argument("file")
    config_check.set_defaults(command=_config_check)

    rules = commands.add_parser("rules", help="check and unit-test rule files").add_subparsers(
        required=True, metavar="SUBCOMMAND")
    rules_check = rules.add_parser("check", help="validate rule files (like promtool check rules)")
    rules_check.add_argument("files", nargs="+", metavar="FILE")
    rules_check.set_defaults(command=_rules_check)
    rules_test = rules.add_parser("test", help="run rule unit tests in promtool's test-file format")
    rules_test.add_argument("files", nargs="+", metavar="FILE")
    rules_test.set_defaults(command=_rules_test)

    query = commands.add_parser("query", help="evaluate a PromQL expression in a running daemon")
    query.add_argument("expr", metavar="EXPR")
    query.add_argument("--web.listen-address", dest="listen_address", default="127.0.0.1:9842",
                       metavar="HOST:PORT", help="the daemon to ask (default 127.0.0.1:9842)")
    query.add_argument("--time", default="", help="evaluation time, Unix seconds (default now)")
    query.set_defaults(command=_query)

    check = commands.add_parser("check", help="run collectors and rules for a while; exit 1 if an alert fired")
    check.add_argument("--config", metavar="PATH", help="config file (default: built-in defaults)")
    check.add_argument("--duration", default="30s", help="how long to run (default 30s)")
    check.add_argument("--expect-firing", dest="expect_firing", action="append", default=[], metavar="NAME",
                       help="exit 1 unless this alert fired (repeatable); other alerts may fire")
    check.set_defaults(command=_check)
    return parser


def _load(path: str | None) -> Config:
    return Config() if path is None else load_config(path)


def _with_overrides(config: Config, args: argparse.Namespace) -> Config:
    host = config.collectors.host
    host = dataclasses.replace(host, procfs=args.procfs or host.procfs, sysfs=args.sysfs or host.sysfs,
                               rootfs=args.rootfs or host.rootfs)
    collectors = dataclasses.replace(config.collectors, host=host)
    web = dataclasses.replace(config.web, listen_address=args.listen_address or config.web.listen_address)
    return dataclasses.replace(config, collectors=collectors, web=web)


def _run(args: argparse.Namespace) -> int:
    from agent.runtime.daemon import Daemon, ListenAddressError, StartupError, parse_listen_address
    from agent.runtime.logs import configure_logging

    json = None if args.log_format == "auto" else args.log_format == "json"
    configure_logging(args.log_level, json=json)

    async def run() -> int:
        try:
            config = _with_overrides(_load(args.config), args)
            parse_listen_address(config.web.listen_address)
            daemon = Daemon(config, config_path=args.config)
        except (ConfigError, ListenAddressError, StartupError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        return await daemon.run()

    return asyncio.run(run())


def _config_check(args: argparse.Namespace) -> int:
    from agent.config.statsd import statsd_config_errors

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    errors = statsd_config_errors(config.statsd) if config.statsd is not None else []
    if errors:
        print("\n".join(f"{args.file}: {error}" for error in errors), file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: config is valid")
    return EXIT_OK


def _rules_check(args: argparse.Namespace) -> int:
    from agent.ruler.unittest import check_rules

    return check_rules(args.files, sys.stdout)


def _rules_test(args: argparse.Namespace) -> int:
    from agent.ruler.unittest import test_rules

    return test_rules(args.files, sys.stdout)


def _query(args: argparse.Namespace) -> int:
    from agent.runtime.query import QueryError, print_result, query_daemon

    try:
        data = query_daemon(args.listen_address, args.expr, args.time)
    except QueryError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    print_result(data, sys.stdout)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from agent.config.load import parse_duration
    from agent.runtime.check import observe, report
    from agent.runtime.daemon import Daemon, StartupError
    from agent.runtime.logs import configure_logging

    configure_logging("warning")

    async def run() -> int:
        try:
            seconds = float(parse_duration(args.duration))
            daemon = Daemon(_load(args.config), config_path=args.config)
        except (ConfigError, StartupError, ValueError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        fired = await observe(daemon, seconds)
        return report(fired, args.expect_firing, sys.stdout)

    return asyncio.run(run())
