"""Alertmanager's API v2 over the daemon's own dispatcher and silences (agent/web/alertmanager_v2.py).

Alerts posted here (by a Prometheus that uses tripwired as its Alertmanager, or by `amtool alert
add`) take the same path as the ruler's: routing, grouping, inhibition, silences, the notification
log and the outbox. As in Alertmanager they live in memory only: a sender re-sends every alert
while it fires, and one not re-sent resolves itself at its `endsAt`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from agent import __version__
from agent.config.receivers import ReceiverConfig
from agent.config.schema import GlobalConfig
from agent.gocompat.regex import RegexError, compile_anchored
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.dispatch import AlertView, Dispatcher, GroupView
from agent.notify.matchers import Matcher, MatcherError, MatchType, parse_matchers
from agent.notify.silence import (
    Silence,
    SilenceError,
    Silences,
    SilenceState,
    format_rfc3339,
    matchers_from_json,
    parse_rfc3339,
    silence_json,
)
from agent.redact import redact
from agent.web.alertmanager_v2 import AlertQuery

RESOLVE_TIMEOUT = 300.0  # Alertmanager's global.resolve_timeout default: an alert without endsAt
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# The sections of a tripwired config that are an Alertmanager config. What `global:` holds beside
# them is tripwired's own (collection and evaluation intervals, external labels).
_ALERTMANAGER_SECTIONS = ("global", "route", "receivers", "inhibit_rules", "time_intervals", "templates")
_TRIPWIRED_GLOBALS = frozenset({"interval", "timeout", "evaluation_interval", "external_labels"})


def _yaml_keys(cls: type) -> list[tuple[str, dataclasses.Field[Any]]]:
    return [(f.metadata.get("key", f.name), f) for f in dataclasses.fields(cls)]


def _secret_keys(cls: type, seen: set[type] | None = None) -> set[str]:
    """The YAML keys the config's dataclasses mark secret (Alertmanager prints them as <secret>), found
    by walking the schema from `cls`, so a secret added to the schema is hidden here too."""
    seen = set() if seen is None else seen
    if cls in seen or not dataclasses.is_dataclass(cls):
        return set()
    seen.add(cls)
    keys: set[str] = set()
    hints = typing.get_type_hints(cls)
    for key, f in _yaml_keys(cls):
        if f.metadata.get("secret"):
            keys.add(key)
        for inner in _types_within(hints[f.name]):
            keys |= _secret_keys(inner, seen)
    return keys


def _types_within(tp: Any) -> list[type]:
    """`tp` and the types inside it (list[X], dict[str, X], X | None)."""
    args = typing.get_args(tp)
    return [tp, *(t for arg in args for t in _types_within(arg))] if args else [tp]


_SECRET_KEYS = frozenset(_secret_keys(ReceiverConfig) | _secret_keys(GlobalConfig))
_ALERTMANAGER_GLOBALS = frozenset(
    name
    for key, f in _yaml_keys(GlobalConfig)
    if key not in _TRIPWIRED_GLOBALS
    for name in ((key, f"{key}_file") if f.metadata.get("secret") else (key,))
)


class AlertmanagerApi:
    """The web layer's `AlertmanagerApi` (agent/web/alertmanager_v2.py) over one dispatcher."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        silences: Silences,
        receivers: Sequence[str],
        *,
        config_path: str | None,
        started_at: float | None = None,
        resolve_timeout: float = RESOLVE_TIMEOUT,
    ) -> None:
        self._dispatcher = dispatcher
        self._silences = silences
        self._receivers = tuple(receivers)
        self._config_path = config_path
        self._started_at = time.time() if started_at is None else started_at
        self._resolve_timeout = resolve_timeout

    def alerts(self, query: AlertQuery) -> list[dict[str, Any]]:
        """Gettable alerts passing the query, each once, ordered by fingerprint."""
        keep = _alert_filter(query)
        found = {view.alert.fingerprint: view for group in self._dispatcher.view() for view in group.alerts}
        return [alert_json(found[fp]) for fp in sorted(found) if keep(found[fp])]

    def alert_groups(self, query: AlertQuery) -> list[dict[str, Any]]:
        """Groups with at least one alert passing the query, by receiver then group labels."""
        keep = _alert_filter(query)
        receiver = _receiver_filter(query.receiver)
        out = []
        for group in sorted(self._dispatcher.view(), key=lambda g: (g.receiver, g.labels)):
            alerts = [alert_json(v) for v in sorted(group.alerts, key=_by_fingerprint) if keep(v)]
            if alerts and receiver(group.receiver):
                out.append({"labels": dict(group.labels), "receiver": {"name": group.receiver}, "alerts": alerts})
        return out

    def post_alerts(self, alerts: list[Any]) -> list[str]:
        """Route the valid alerts; a problem line for each invalid one (Alertmanager's 400 message)."""
        now = self._dispatcher.clock.time()
        taken, problems = [], []
        for index, body in enumerate(alerts):
            try:
                taken.append(alert_from_json(body, now, self._resolve_timeout))
            except ValueError as exc:
                problems.append(f"alert {index}: {exc}")
        if taken:
            self._dispatcher.add(taken)
        return problems

    def silences(self, filters: tuple[str, ...]) -> list[dict[str, Any]]:
        """Silences whose equality matchers satisfy every filter, in Alertmanager's order."""
        wanted = _parse_filters(filters)
        now = self._silences.clock.time()
        chosen = [s for s in self._silences.list() if _silence_matches(s, wanted)]
        return [silence_json(s, now) for s in _alertmanager_order(chosen, now)]

    def silence(self, silence_id: str) -> dict[str, Any]:
        """One silence; KeyError (404) if unknown."""
        return silence_json(self._get(silence_id), self._silences.clock.time())

    def post_silence(self, body: dict[str, Any]) -> str:
        """Create a silence; with an `id`, expire that one and create its replacement (a new id)."""
        try:
            matchers = matchers_from_json(body.get("matchers") or [])
            now = self._silences.clock.time()
            starts_at = parse_rfc3339(str(body["startsAt"])) if body.get("startsAt") else now
            ends_at = parse_rfc3339(str(body["endsAt"]))
        except KeyError as exc:
            raise SilenceError(f"missing field {exc.args[0]}") from None
        replaced = self._get(str(body["id"])) if body.get("id") else None
        new_id = self._silences.add(
            matchers, starts_at, ends_at, str(body.get("createdBy", "")), str(body.get("comment", ""))
        )
        if replaced is not None and replaced.state(now) is not SilenceState.EXPIRED:
            self._silences.expire(replaced.id)
        return new_id

    def expire_silence(self, silence_id: str) -> None:
        """Expire a silence; KeyError (404) if unknown, SilenceError (400) if already expired."""
        self._silences.expire(self._get(silence_id).id)

    def receivers(self) -> list[dict[str, Any]]:
        """Each configured receiver's name."""
        return [{"name": name} for name in self._receivers]

    def status(self) -> dict[str, Any]:
        """Alertmanager's status: a disabled cluster of one, the alerting config, uptime and version."""
        return {
            "cluster": {"name": "", "peers": [], "status": "disabled"},
            "config": {"original": alerting_config_yaml(self._config_path)},
            "uptime": format_rfc3339(self._started_at),
            "versionInfo": {
                "branch": "",
                "buildDate": "",
                "buildUser": "",
                "goVersion": "",
                "revision": "",
                "version": f"tripwired {__version__}",
            },
        }

    def _get(self, silence_id: str) -> Silence:
        try:
            return self._silences.get(silence_id)
        except SilenceError:
            raise KeyError(f"silence {silence_id} not found") from None


def alert_json(view: AlertView) -> dict[str, Any]:
    """Alertmanager's gettableAlert."""
    alert = view.alert
    out: dict[str, Any] = {
        "annotations": dict(alert.annotations),
        "endsAt": format_rfc3339(alert.ends_at),
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": name} for name in view.receivers],
        "startsAt": format_rfc3339(alert.starts_at),
        "status": {
            "inhibitedBy": list(view.inhibited_by),
            "silencedBy": list(view.silenced_by),
            "state": "suppressed" if view.suppressed else "active",
        },
        "updatedAt": format_rfc3339(view.updated_at),
        "labels": dict(alert.labels),
    }
    if alert.generator_url:
        out["generatorURL"] = alert.generator_url
    return out


def alert_from_json(body: Any, now: float, resolve_timeout: float = RESOLVE_TIMEOUT) -> Alert:
    """An alert from Alertmanager's postableAlert, with its times defaulted as Alertmanager does.

    No startsAt: now (or endsAt, when only that is given). No endsAt: now + resolve_timeout
    (global.resolve_timeout), so an
    alert that is not re-sent resolves itself. ValueError for what Alertmanager refuses.
    """
    if not isinstance(body, Mapping):
        raise ValueError("expected a JSON object")
    labels = _label_set(body.get("labels"), "labels")
    if not labels:
        raise ValueError("at least one label pair required")
    annotations = _label_set(body.get("annotations") or {}, "annotations")
    ends_at = _time(body.get("endsAt"))
    starts_at = _time(body.get("startsAt")) or ends_at or now
    ends_at = ends_at or now + resolve_timeout
    if ends_at < starts_at:
        raise ValueError("start time must be before end time")
    generator_url = body.get("generatorURL") or ""
    if not isinstance(generator_url, str):
        raise ValueError("generatorURL must be a string")
    resolved = ends_at <= now
    key = labels_of(labels)
    return Alert(
        labels=key,
        annotations=labels_of(annotations),
        state=AlertState.INACTIVE if resolved else AlertState.FIRING,
        value=math.nan,
        active_at=starts_at,
        starts_at=starts_at,
        ends_at=ends_at,
        resolved_at=ends_at if resolved else None,
        generator_url=generator_url,
        rule="",  # not from a rule of ours
        fingerprint=fingerprint(key),
    )


def alerting_config_yaml(config_path: str | None) -> str:
    """The Alertmanager sections of the config file, secrets as <secret>; empty for the built-in config."""
    if not config_path:
        return ""
    try:
        loaded = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return ""  # the running config was read at start-up; a file broken since has no say here
    if not isinstance(loaded, dict):
        return ""
    sections = {key: _hide_secrets(loaded[key]) for key in _ALERTMANAGER_SECTIONS if key in loaded}
    if isinstance(sections.get("global"), dict):  # tripwired's own settings share the section
        sections["global"] = {k: v for k, v in sections["global"].items() if k in _ALERTMANAGER_GLOBALS}
        if not sections["global"]:
            del sections["global"]
    return yaml.safe_dump(sections, sort_keys=False) if sections else ""


def _hide_secrets(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _hidden(v) if k in _SECRET_KEYS and v else _hide_secrets(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hide_secrets(item) for item in node]
    return node


def _hidden(value: Any) -> str:
    """A secret as the status shows it: `<secret>`, or a URL cut to scheme://host as every log line
    cuts it (agent/redact.py), so a URL field still parses as one for amtool."""
    text = str(value)
    return redact(text) if "://" in text else "<secret>"


def _label_set(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be an object of string values")
    for name, text in value.items():
        if not isinstance(text, str):
            raise ValueError(f"{field}: value of {name!r} must be a string")
        if field == "labels" and not _LABEL_NAME.fullmatch(str(name)):
            raise ValueError(f'invalid label set: invalid name "{name}"')
    return {str(k): v for k, v in value.items()}


def _time(value: Any) -> float:
    """Unix seconds of an RFC 3339 time; 0 for none (Go's zero time, which Alertmanager treats as unset)."""
    if value in (None, "", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"):
        return 0.0
    try:
        return parse_rfc3339(str(value))
    except SilenceError as exc:
        raise ValueError(str(exc)) from None


def _parse_filters(filters: Iterable[str]) -> list[Matcher]:
    """Matchers of `filter=` parameters (`alertname="x"` or `{a="b",c=~"d"}`); ValueError if bad."""
    out: list[Matcher] = []
    for text in filters:
        try:
            out.extend(parse_matchers(text))
        except MatcherError as exc:
            raise ValueError(f"bad matcher format: {exc}") from None
    return out


def _receiver_filter(pattern: str) -> Any:
    """Alertmanager's `receiver=` parameter: a Go regexp the whole receiver name must match."""
    if not pattern:
        return lambda _name: True
    try:
        regex = compile_anchored(pattern, dot_all=False)
    except RegexError as exc:
        raise ValueError(f"failed to parse receiver param: {exc}") from None
    return regex.matches


def _alert_filter(query: AlertQuery) -> Any:
    """A predicate over AlertViews: Alertmanager's alertFilter for GET /api/v2/alerts."""
    wanted = _parse_filters(query.filter)
    receiver = _receiver_filter(query.receiver)

    def keep(view: AlertView) -> bool:
        labels = dict(view.alert.labels)
        if query.receiver and not any(receiver(name) for name in view.receivers):
            return False
        if not all(m.matches(labels.get(m.name, "")) for m in wanted):
            return False
        if not query.active and not view.suppressed:
            return False
        if not query.silenced and view.silenced_by:
            return False
        return query.inhibited or not view.inhibited_by

    return keep


def _silence_matches(silence: Silence, filters: Sequence[Matcher]) -> bool:
    """Alertmanager's CheckSilenceMatchesFilterLabels: the silence's `=` matchers as a label set."""
    labels = {m.name: m.value for m in silence.matchers if m.type is MatchType.EQUAL}
    return all(f.matches(labels.get(f.name, "")) for f in filters)


def _alertmanager_order(silences: Sequence[Silence], now: float) -> list[Silence]:
    """Active by soonest end, then pending by soonest start, then expired by latest end (SortSilences)."""

    def key(s: Silence) -> tuple[int, float]:
        state = s.state(now)
        if state is SilenceState.ACTIVE:
            return (0, s.ends_at)
        if state is SilenceState.PENDING:
            return (1, s.starts_at)
        return (2, -s.ends_at)

    return sorted(silences, key=key)


def _by_fingerprint(view: AlertView) -> str:
    return view.alert.fingerprint


__all__ = ["AlertmanagerApi", "GroupView", "alert_from_json", "alert_json", "alerting_config_yaml"]
