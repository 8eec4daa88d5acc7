"""The daemon as Prometheus' /api/v1/targets and /api/v1/status/* show a server: what the web layer serves.

Each collector is a target with the labels its samples and `up` carry (agent/targets.py), the build and runtime
information have Prometheus' field names, and the loaded config is written back as YAML with
every secret as `<secret>`, as Prometheus writes its own.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import platform
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from agent import __version__
from agent.collect.runner import CollectorState
from agent.config import Config, Duration, Secret
from agent.gocompat.duration import format_duration
from agent.runtime.views import rfc3339

SECRET = "<secret>"


def target_json(state: CollectorState) -> dict[str, Any]:
    """One collector as an active target of Prometheus' /api/v1/targets."""
    collector = state.collector
    url = f"collector://{collector.name}/{collector.instance}"
    labels = dict(state.job.target.up_labels) or {"instance": collector.instance, "job": collector.name}
    health = "unknown" if state.runs == 0 else "up" if state.up else "down"
    return {
        "discoveredLabels": {"__address__": labels["instance"], "job": labels["job"]},
        "labels": labels,
        "scrapePool": labels["job"],
        "scrapeUrl": url,
        "globalUrl": url,
        "lastError": state.last_error,
        "lastScrape": rfc3339(state.last_run or None),
        "lastScrapeDuration": state.last_duration,
        "health": health,
        "scrapeInterval": format_duration(round(state.job.interval * 1000)),
        "scrapeTimeout": format_duration(round(state.job.timeout * 1000)),
    }


def targets_json(states: Sequence[CollectorState]) -> dict[str, Any]:
    """Every collector as an active target; nothing is ever dropped."""
    return {"activeTargets": [target_json(s) for s in states], "droppedTargets": []}


def buildinfo_json() -> dict[str, str]:
    """Prometheus' build information fields, with the interpreter in place of Go."""
    return {
        "version": __version__,
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": f"python{platform.python_version()}",
    }


def flags_json(config: Config, config_path: str | None, external_url: str) -> dict[str, str]:
    """The settings a Prometheus user looks for under their Prometheus flag names."""
    return {
        "config.file": config_path or "",
        "web.listen-address": config.web.listen_address,
        "web.external-url": external_url,
        "web.enable-lifecycle": str(config.web.enable_lifecycle).lower(),
        "query.lookback-delta": "5m",
        "storage.tsdb.path": str(config.state_dir),
    }


def runtimeinfo_json(started: float, reload_ok: bool, reload_at: float, retention_s: float) -> dict[str, Any]:
    """Prometheus' runtime information fields that mean something for the agent."""
    return {
        "startTime": rfc3339(started),
        "CWD": os.getcwd(),
        "reloadConfigSuccess": reload_ok,
        "lastConfigTime": rfc3339(reload_at),
        "corruptionCount": 0,
        "goroutineCount": threading.active_count(),
        "GOMAXPROCS": os.cpu_count() or 1,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": format_duration(round(retention_s * 1000)),
    }


def config_yaml(config: Config) -> str:
    """The loaded config as YAML, every secret written as `<secret>`."""
    return yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True)


def _plain(value: object) -> Any:
    if isinstance(value, Secret):
        return SECRET
    if isinstance(value, Duration):
        return format_duration(round(value * 1000))
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.metadata.get("key", f.name): SECRET
            if f.metadata.get("secret") and getattr(value, f.name)
            else _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)
