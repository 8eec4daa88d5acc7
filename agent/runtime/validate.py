"""Checks of a loaded config that its types cannot express; shared by `config check`, start-up and reload."""

from __future__ import annotations

from agent.config.remote_write import remote_write_errors
from agent.config.schema import Config, WalEnabled
from agent.config.statsd import statsd_config_errors
from agent.packs import builtin_errors
from agent.runtime.notifications import alerting_errors
from agent.web.auth import check_users


def config_errors(config: Config, filename: str) -> list[str]:
    """Every such problem as `file: path: message`; empty when the config is usable. No I/O."""
    errors = statsd_config_errors(config.statsd) if config.statsd is not None else []
    errors += alerting_errors(config)
    errors += [f"web.{problem}" for problem in check_users(config.web.basic_auth_users)]
    errors += remote_write_errors(config.remote_write)
    errors += builtin_errors(config.rule_files)
    if config.remote_write and config.store.wal.enabled is WalEnabled.FALSE:
        errors.append("remote_write: needs the write-ahead log it sends from; store.wal.enabled is false")
    return [f"{filename}: {error}" for error in errors]
