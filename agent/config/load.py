"""YAML -> typed config, reporting every mistake at once as `file:line: path: message`.

The file is walked against the dataclasses of schema.py by the shared schema layer
(agent/yamlschema); this module adds what only the config has: `${env:NAME}` in any string
and secrets given inline or as `<field>_file: PATH`. Nothing here opens a connection:
validation does no I/O beyond reading the file and its `*_file` secrets.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from agent.config.receivers import PAGERDUTY_EVENTS_URL, EmailConfig, ReceiverConfig
from agent.config.schema import Config, Duration, GlobalConfig, Secret
from agent.config.verify import Condition, PromQLQuery, parse_condition, parse_query
from agent.gocompat.duration import parse_duration as go_parse_duration
from agent.yamlschema import Builder, Report, SchemaError, compose, has_content, node_error, read_document

T = TypeVar("T")

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")

# The one error type of the schema layer, under the name the config's callers know.
ConfigError = SchemaError


# What a `<key>_file` secret holds when the file is not read (`config check --syntax-only`): a value
# that passes every check a secret's content gets (non-empty, and an http(s) URL where one is due).
UNREAD_SECRET = "https://secret-file-not-read.invalid/"


def load_config(path: str | Path, *, read_secret_files: bool = True) -> Config:
    """Read and validate a config file; an empty one is refused (a truncated file must not reset everything).

    Without `read_secret_files` (a syntax check on a machine without the secrets), every
    `<key>_file` is taken as given and holds UNREAD_SECRET.
    """
    return load_file(Config, path, allow_empty=False, read_secret_files=read_secret_files)


def load_file(cls: type[T], path: str | Path, *, allow_empty: bool = True, read_secret_files: bool = True) -> T:
    """Read and validate a file of the config family (the config, a web config file, a routing test)."""
    text = read_document(path, "config file")
    if not allow_empty and not has_content(text):
        raise ConfigError([f"{path}:1: the config file is empty (run without --config for the built-in defaults)"])
    return load_text(cls, text, str(path), read_secret_files=read_secret_files)


def load_text(cls: type[T], text: str, filename: str = "<config>", *, read_secret_files: bool = True) -> T:
    """Validate YAML text as `cls`; `filename` prefixes every error (and locates relative secret files)."""
    report = Report(filename)
    node = compose(text, report)
    value = _ConfigBuilder(report, Path(filename).parent, read_secret_files=read_secret_files).build(cls, node, "")
    report.raise_if_any()
    if isinstance(value, Config):
        value = _as_alertmanager_reads_it(value, Path(filename).parent)
    return typing.cast(T, value)


def _as_alertmanager_reads_it(config: Config, base: Path) -> Config:
    """Template globs relative to the config file (as *_file secrets), and receivers completed from
    the `global:` section's Alertmanager defaults, as Alertmanager's config.Load does."""
    return dataclasses.replace(
        config,
        templates=[str(base / pattern) for pattern in config.templates],
        receivers=with_globals(config.receivers, config.global_),
    )


def build_node(cls: Any, node: yaml.Node | None, report: Report, *, path: str) -> Any:
    """One node of a composed config file as `cls` (None when it is wrong), its mistakes added to `report`.

    For readers of part of a config (routing tests read only `route` and `time_intervals`).
    """
    return _ConfigBuilder(report, Path(report.filename).parent).build(cls, node, path)


def parse_duration(text: str) -> Duration:
    """A Prometheus duration (`10s`, `1m30s`, `0s`) in seconds; ValueError naming the notation."""
    try:
        return Duration(go_parse_duration(text) / 1000)
    except ValueError:
        raise ValueError(f"invalid duration {text!r} (use 10s, 1m30s, 5m, 1h)") from None


class _ConfigBuilder(Builder):
    """The schema layer's builder, with the config's secrets and environment variables."""

    scalars: ClassVar[Mapping[Any, Callable[[str], Any]]] = {
        **Builder.scalars,
        Secret: Secret,
        Duration: parse_duration,
        PromQLQuery: parse_query,  # a verify checks file's `query` (agent/config/verify.py)
        Condition: parse_condition,
    }
    type_names: ClassVar[Mapping[Any, str]] = {**Builder.type_names, Secret: "a string", Duration: "a duration"}

    def __init__(self, report: Report, base_dir: Path, *, read_secret_files: bool = True) -> None:
        super().__init__(report)
        self.base_dir = base_dir
        self.read_secret_files = read_secret_files

    def scalar_text(self, text: str) -> str:
        """The text with every `${env:NAME}` replaced by the variable's value."""

        def env(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise node_error(f"environment variable {name} is not set")
            return os.environ[name]

        return _ENV_REF.sub(env, text)

    def field_value(self, f: dataclasses.Field[Any], tp: Any, node: yaml.Node, path: str) -> Any:
        """A mapping of secrets reads its `NAME_file` keys; any other field as its type says."""
        if f.metadata.get("secret_files"):
            return self._secret_dict(node, path)
        return super().field_value(f, tp, node, path)

    def extra_key(self, fields: Mapping[str, dataclasses.Field[Any]], key: str) -> dataclasses.Field[Any] | None:
        """`<field>_file` sets a secret field from a file."""
        f = fields.get(key.removesuffix("_file")) if key.endswith("_file") else None
        return f if f is not None and f.metadata.get("secret") else None

    def extra_value(self, f: dataclasses.Field[Any], key: str, node: yaml.Node, path: str) -> Any:
        """The content of the secret file named at `node`."""
        file_path = self.build(str, node, path)
        return None if file_path is None else self._read_secret_at(node, path, file_path)

    def check_keys(self, fields: Mapping[str, dataclasses.Field[Any]], node: yaml.MappingNode, path: str) -> None:
        """A secret given both inline and as `<field>_file`: Alertmanager refuses it too (which would win?)."""
        given = {str(key_node.value): key_node for key_node, _ in node.value}
        for key, f in fields.items():
            if f.metadata.get("secret") and key in given and f"{key}_file" in given:
                sub = f"{path}.{key}_file" if path else f"{key}_file"
                self.error(given[f"{key}_file"], sub, f"at most one of {key} and {key}_file may be set")

    def _secret_dict(self, node: yaml.Node | None, path: str) -> dict[str, Secret]:
        """A mapping of secrets where `NAME_file: PATH` gives NAME the content of the file."""
        values: dict[str, Secret] = self.build(dict[str, Secret], node, path) or {}
        for key_node, value_node in node.value if isinstance(node, yaml.MappingNode) else []:
            key = str(key_node.value)
            file_path = values.pop(key, None) if key.endswith("_file") else None
            if file_path is not None and key.removesuffix("_file") in values:
                self.error(
                    key_node, f"{path}.{key}", f"at most one of {key.removesuffix('_file')} and {key} may be set"
                )
            elif file_path is not None:
                secret = self._read_secret_at(value_node, f"{path}.{key}", file_path)
                if secret is not None:
                    values[key.removesuffix("_file")] = secret
        return values

    def _read_secret_at(self, node: yaml.Node | None, path: str, file_path: str) -> Secret | None:
        """The content of a secret file (relative paths from the config file's directory), without its newline."""
        if not self.read_secret_files:
            return Secret(UNREAD_SECRET)
        resolved = Path(file_path) if os.path.isabs(file_path) else self.base_dir / file_path
        try:
            return Secret(resolved.read_text(encoding="utf-8").rstrip("\n"))
        except OSError as exc:
            self.error(node, path, f"cannot read secret file {file_path}: {exc.strerror}")
            return None
        except ValueError as exc:  # a NUL in the path, or a file that is not UTF-8
            self.error(node, path, f"cannot read secret file {file_path!r}: {exc}")
            return None


def with_globals(receivers: Sequence[ReceiverConfig], g: GlobalConfig) -> list[ReceiverConfig]:
    """The receivers with what they leave out taken from Alertmanager's `global:` section, as its
    config.Load does: SMTP settings for email, the Slack and Opsgenie API, the PagerDuty URL."""
    return [
        dataclasses.replace(
            r,
            email_configs=[_email_with(e, g) for e in r.email_configs],
            slack_configs=[
                s if s.api_url else dataclasses.replace(s, api_url=g.slack_api_url) for s in r.slack_configs
            ],
            pagerduty_configs=[
                p if p.url != PAGERDUTY_EVENTS_URL else dataclasses.replace(p, url=g.pagerduty_url)
                for p in r.pagerduty_configs
            ],
            opsgenie_configs=[
                dataclasses.replace(o, api_url=o.api_url or g.opsgenie_api_url, api_key=o.api_key or g.opsgenie_api_key)
                for o in r.opsgenie_configs
            ],
        )
        for r in receivers
    ]


def _email_with(e: EmailConfig, g: GlobalConfig) -> EmailConfig:
    return dataclasses.replace(
        e,
        from_=e.from_ or g.smtp_from,
        smarthost=e.smarthost or g.smtp_smarthost,
        hello=e.hello or g.smtp_hello,
        auth_username=e.auth_username or g.smtp_auth_username,
        auth_password=e.auth_password or g.smtp_auth_password,
        auth_secret=e.auth_secret or g.smtp_auth_secret,
        auth_identity=e.auth_identity or g.smtp_auth_identity,
        require_tls=g.smtp_require_tls if e.require_tls is None else e.require_tls,
    )
