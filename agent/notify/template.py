"""Alertmanager's notification templates: the data model, the functions and the default templates.

A receiver field such as Slack's `title` is a Go template expanded over template.Data
(`.Receiver`, `.Status`, `.Alerts`, `.GroupLabels`, `.CommonLabels`, `.CommonAnnotations`,
`.ExternalURL`), as in Alertmanager's template/template.go. The named templates come first from
Alertmanager 0.25's own default.tmpl and email.tmpl (shipped beside this module), then from the
files the config's top-level `templates:` globs match, in order, so a user's `{{ define }}` of
`slack.default.title` replaces Alertmanager's as it does there.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import ClassVar

from agent.config.types import Secret
from agent.gotemplate import BUILTINS, Function, GoMap, GoSlice, GoStruct, TemplateError, TemplateSet, Value
from agent.gotemplate.fmt import sprint
from agent.gotemplate.regexp import match_string, replace_all
from agent.model import Alert, AlertState
from agent.notify.model import Notification, group_status

__all__ = ["Data", "NotifyTemplates", "SafeHTML", "TemplateError", "load_templates", "template_data"]

DEFAULT_FILES = ("default.tmpl", "email.tmpl")  # Alertmanager's FromGlobs parses these first, in this order
_GO_QUOTE_META = set("\\.+*?()|[]{}^$")


class SafeHTML(str):
    """html/template's template.HTML: text safeHtml marks as already HTML, printed unescaped."""

    __slots__ = ()


class KV(GoMap):
    """Alertmanager's template.KV: labels or annotations, with SortedPairs, Names, Values and Remove."""

    def go_method(self, name: str) -> Callable[..., Value] | None:
        """KV's methods, by their Go names."""
        methods: dict[str, Callable[..., Value]] = {
            "SortedPairs": self.sorted_pairs,
            "Names": lambda: self.sorted_pairs().names(),
            "Values": lambda: self.sorted_pairs().values(),
            "Remove": self.remove,
        }
        return methods.get(name)

    def sorted_pairs(self) -> Pairs:
        """The pairs sorted by name, `alertname` first (KV.SortedPairs)."""
        keys = sorted(k for k in self if k != "alertname")
        if "alertname" in self:
            keys.insert(0, "alertname")
        return Pairs(tuple(Pair(k, self[k]) for k in keys), "template.Pairs")

    def remove(self, keys: Value) -> KV:
        """A copy without the given names (KV.Remove takes a []string)."""
        if not isinstance(keys, GoSlice) or not all(isinstance(k, str) for k in keys.items):
            raise TemplateError("wrong type for value; expected []string")
        return KV({k: v for k, v in self.items() if k not in keys.items})


@dataclass(frozen=True)
class Pair(GoStruct):
    """One name/value pair (template.Pair)."""

    go_type_name: ClassVar[str] = "template.Pair"
    name: str
    value: str

    def go_field(self, name: str) -> Value:
        """Name and Value."""
        return {"Name": self.name, "Value": self.value}.get(name)

    def go_fields(self) -> list[Value]:
        """Printed as {name value}."""
        return [self.name, self.value]


@dataclass(frozen=True)
class Pairs(GoSlice):
    """A sorted list of pairs (template.Pairs), with Names and Values."""

    def go_method(self, name: str) -> Callable[..., Value] | None:
        """Pairs' methods, by their Go names."""
        return {"Names": self.names, "Values": self.values}.get(name)

    def names(self) -> GoSlice:
        """The names, in order (a template.Strings)."""
        return GoSlice(tuple(p.name for p in self.items if isinstance(p, Pair)), "template.Strings")

    def values(self) -> GoSlice:
        """The values, in order (a template.Strings)."""
        return GoSlice(tuple(p.value for p in self.items if isinstance(p, Pair)), "template.Strings")


@dataclass(frozen=True)
class GoTime(GoStruct):
    """A time.Time: printed as Go prints one (`2026-12-04 20:00:00.5 +0000 UTC`)."""

    go_type_name: ClassVar[str] = "time.Time"
    seconds: float | None  # None: Go's zero time

    def go_string(self) -> str:
        """time.Time.String for a UTC time."""
        if self.seconds is None:
            return "0001-01-01 00:00:00 +0000 UTC"
        moment = datetime.fromtimestamp(self.seconds, UTC)
        fraction = f"{moment.microsecond:06d}".rstrip("0")
        return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") + " +0000 UTC"

    def go_method(self, name: str) -> Callable[..., Value] | None:
        """Unix seconds, the one time method templates commonly call."""
        return {"Unix": lambda: -62135596800 if self.seconds is None else int(self.seconds)}.get(name)


@dataclass(frozen=True)
class TemplateAlert(GoStruct):
    """One alert as templates see it (template.Alert)."""

    go_type_name: ClassVar[str] = "template.Alert"
    alert: Alert

    def go_field(self, name: str) -> Value:
        """Status, Labels, Annotations, StartsAt, EndsAt, GeneratorURL, Fingerprint."""
        alert = self.alert
        fields: dict[str, Value] = {
            "Status": alert_status(alert),
            "Labels": KV(alert.labels),
            "Annotations": KV(alert.annotations),
            "StartsAt": GoTime(alert.starts_at),
            "EndsAt": GoTime(None if alert.state is AlertState.FIRING else alert.ends_at),
            "GeneratorURL": alert.generator_url,
            "Fingerprint": alert.fingerprint,
        }
        return fields.get(name)

    def go_fields(self) -> list[Value]:
        """In template.Alert's declaration order."""
        names = ("Status", "Labels", "Annotations", "StartsAt", "EndsAt", "GeneratorURL", "Fingerprint")
        return [self.go_field(n) for n in names]


@dataclass(frozen=True)
class Alerts(GoSlice):
    """The alerts of a notification (template.Alerts), with Firing and Resolved."""

    def go_method(self, name: str) -> Callable[..., Value] | None:
        """Alerts' methods, by their Go names."""
        return {"Firing": lambda: self._with("firing"), "Resolved": lambda: self._with("resolved")}.get(name)

    def _with(self, status: str) -> GoSlice:
        kept = tuple(a for a in self.items if isinstance(a, TemplateAlert) and a.go_field("Status") == status)
        return GoSlice(kept, "[]template.Alert")


@dataclass(frozen=True)
class Data(GoStruct):
    """What every notification template is expanded over (template.Data)."""

    go_type_name: ClassVar[str] = "*template.Data"
    receiver: str
    status: str
    alerts: Alerts
    group_labels: KV
    common_labels: KV
    common_annotations: KV
    external_url: str

    def go_field(self, name: str) -> Value:
        """Receiver, Status, Alerts, GroupLabels, CommonLabels, CommonAnnotations, ExternalURL."""
        fields: dict[str, Value] = {
            "Receiver": self.receiver,
            "Status": self.status,
            "Alerts": self.alerts,
            "GroupLabels": self.group_labels,
            "CommonLabels": self.common_labels,
            "CommonAnnotations": self.common_annotations,
            "ExternalURL": self.external_url,
        }
        return fields.get(name)

    def go_fields(self) -> list[Value]:
        """In template.Data's declaration order."""
        names = ("Receiver", "Status", "Alerts", "GroupLabels", "CommonLabels", "CommonAnnotations", "ExternalURL")
        return [self.go_field(n) for n in names]


def alert_status(alert: Alert) -> str:
    """`firing` or `resolved`, as Alertmanager's alert status."""
    return "firing" if alert.state is AlertState.FIRING else "resolved"


def common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every map has in common (Alertmanager's CommonLabels / CommonAnnotations)."""
    if not maps:
        return {}
    shared = dict(maps[0])
    for other in maps[1:]:
        shared = {k: v for k, v in shared.items() if other.get(k) == v}
    return shared


def go_quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta, which Alertmanager applies to the receiver name."""
    return "".join(f"\\{c}" if c in _GO_QUOTE_META else c for c in text)


def template_data(notification: Notification, alerts: Sequence[Alert], external_url: str) -> Data:
    """The template data of a notification to one integration (the alerts it is sent)."""
    return Data(
        receiver=go_quote_meta(notification.receiver),
        status=group_status(alerts).value,
        alerts=Alerts(tuple(TemplateAlert(a) for a in alerts), "template.Alerts"),
        group_labels=KV(notification.group_labels),
        common_labels=KV(common([dict(a.labels) for a in alerts])),
        common_annotations=KV(common([dict(a.annotations) for a in alerts])),
        external_url=external_url,
    )


def _join(sep: str, items: Value) -> str:
    """join: strings.Join with the separator first, for pipelines (`.Values | join " "`)."""
    if not isinstance(items, GoSlice) or not all(isinstance(i, str) for i in items.items):
        raise TemplateError("wrong type for value; expected []string")
    return sep.join(str(i) for i in items.items)


def _title(text: str) -> str:
    """title: cases.Title(language.AmericanEnglish), which also lower-cases the rest of each word."""
    return re.sub(r"[^\W_][\w']*", lambda m: m[0][:1].upper() + m[0][1:].lower(), text)


def _urlquery(*args: Value) -> str:
    """Go's urlquery builtin: url.QueryEscape of the printed arguments."""
    return urllib.parse.quote_plus(sprint(args), safe="")


def _html(*args: Value) -> str:
    """Go's html builtin: the printed arguments, HTML-escaped."""
    return html_escape(sprint(args))


def html_escape(text: str) -> str:
    """html/template's escaper for text and quoted attribute values."""
    table = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "+": "&#43;", "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(c, c) for c in text)


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def strip_comments(text: str) -> str:
    """html/template drops HTML comments from a template's text."""
    return _HTML_COMMENT.sub("", text)


FUNCTIONS: Mapping[str, Function] = {
    **BUILTINS,
    "html": Function((), True, _html),
    "urlquery": Function((), True, _urlquery),
    "toUpper": Function(("string",), False, str.upper),
    "toLower": Function(("string",), False, str.lower),
    "title": Function(("string",), False, _title),
    "trimSpace": Function(("string",), False, lambda s: s.strip(" \t\n\r\v\f")),
    "join": Function(("string", "any"), False, _join),
    "match": Function(("string", "string"), False, match_string),
    "safeHtml": Function(("string",), False, SafeHTML),
    "reReplaceAll": Function(("string", "string", "string"), False, replace_all),
    "stringSlice": Function((), True, lambda *s: GoSlice(tuple(s), "[]string")),
}


@dataclass(frozen=True)
class NotifyTemplates:
    """The named templates of a config, and the expansion of receiver fields over them."""

    templates: TemplateSet

    def text(self, text: str, data: Data) -> str:
        """Expand a text field (ExecuteTextString): "" stays "" without being parsed."""
        if not text:
            return ""
        return self.templates.parse(text).execute(data)

    def html(self, text: str, data: Data) -> str:
        """Expand an HTML field (ExecuteHTMLString): printed values are HTML-escaped unless safeHtml."""
        if not text:
            return ""
        return self.templates.parse(text).execute(data, escape=html_escape, safe=SafeHTML, text_filter=strip_comments)

    def fields(self, data: Data) -> Callable[[str], str]:
        """Expand field texts over `data`, a failure naming the field's text (for a receiver's fields)."""

        def expand(field_text: str) -> str:
            try:
                return self.text(field_text, data)
            except TemplateError as exc:
                raise TemplateError(f"template {field_text!r}: {exc}") from None

        return expand

    def check(self, text: str) -> None:
        """Parse a field's text against the named templates; raises TemplateError."""
        if text:
            self.templates.parse(text)


def templated_fields(config: object, prefix: str = "") -> list[tuple[str, str]]:
    """Every template text of an integration config as (field path, text), nested lists included.

    Every str field of an integration config is a template, except its secrets and the
    connection settings named in NOT_TEMPLATED.
    """
    found: list[tuple[str, str]] = []
    if not dataclasses.is_dataclass(config):
        return found
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        path = f"{prefix}{item.metadata.get('key', item.name)}"
        if isinstance(value, Secret):
            continue  # credentials are sent as written (a password may well contain "{{")
        if isinstance(value, str) and item.name not in NOT_TEMPLATED:
            found.append((path, value))
        elif isinstance(value, list):
            for index, element in enumerate(value):
                found.extend(templated_fields(element, f"{path}[{index}]."))
        elif isinstance(value, dict):
            found.extend((f"{path}.{k}", v) for k, v in value.items() if isinstance(v, str))
        elif dataclasses.is_dataclass(value) and item.name != "http_config":
            found.extend(templated_fields(value, f"{path}."))
    return found


NOT_TEMPLATED = frozenset({"url", "api_url", "smarthost", "hello", "auth_username", "auth_identity"})


def template_errors(templates: NotifyTemplates, config: object, where: str) -> list[str]:
    """`where.field: line:col: problem` for every field of an integration config that does not parse."""
    errors: list[str] = []
    for path, text in templated_fields(config):
        try:
            templates.check(text)
        except TemplateError as exc:
            errors.append(f"{where}.{path}: template: {exc}")
    return errors


def _default_set() -> TemplateSet:
    templates = TemplateSet(FUNCTIONS)
    folder = resources.files("agent.notify").joinpath("templates")
    for name in DEFAULT_FILES:
        templates.add(folder.joinpath(name).read_text(encoding="utf-8"), name)
    return templates


def load_templates(patterns: Sequence[str], base_dir: str = ".") -> NotifyTemplates:
    """Alertmanager's defaults, then every file the globs match (relative to the config's folder).

    Raises TemplateError naming the file, line and column of the first parse error; a glob
    that matches nothing is allowed, as in Alertmanager.
    """
    templates = _default_set()
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(base_dir, pattern))):
            with open(path, encoding="utf-8") as handle:
                templates.add(handle.read(), path)
    return NotifyTemplates(templates)


DEFAULT_TEMPLATES = load_templates(())
