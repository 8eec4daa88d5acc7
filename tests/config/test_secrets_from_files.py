"""Secrets from files, as Alertmanager: every secret field of the schema has its `<field>_file` form, so a
config kept in version control needs to hold no secret; giving both forms is refused.

The table is the schema itself: every dataclass reachable from Config is walked, and a field that
holds a `Secret`, or whose name says it is a credential, must be marked secret (which is what gives
it the `_file` form). A new secret field without it fails here.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import Config, ConfigError, Secret, load_text

# Secret-typed fields that are not credentials read from files, and why.
NOT_FROM_FILES = {
    "WebConfig.basic_auth_users": "bcrypt hashes, as in exporter-toolkit's web config, which has no _file form",
}
# Secrets whose value is checked when loaded: what a file holds for them, and what stands in when required.
VALID_VALUES = {"SqlConfig.url": "sqlite:///s3cr3t-from-file"}
# Names that say "credential" whatever their type (a plain `str` here would be a leak in logs and APIs).
CREDENTIAL_NAME = re.compile(r"password|token|secret|credentials|routing_key|service_key|api_key|api_url")


@dataclasses.dataclass(frozen=True)
class SecretField:
    """One secret field, with the YAML that reaches it from the top of a config file."""

    owner: type
    key: str
    marked: bool
    holds_secret: bool
    path: tuple[str, ...]  # keys from the top; "[]" steps into a list

    def __str__(self) -> str:
        return f"{self.owner.__name__}.{self.key}"

    @property
    def where(self) -> str:
        return ".".join(self.path).replace(".[]", "[]")


def _dataclass_in(tp: Any) -> tuple[type | None, bool]:
    """The dataclass a field type leads to, and whether through a list."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _dataclass_in(arg)
            if found[0] is not None:
                return found
    if origin is list:
        inner, _ = _dataclass_in(typing.get_args(tp)[0])
        return inner, True
    return (typing.cast(type, tp), False) if dataclasses.is_dataclass(tp) else (None, False)


def _holds_secret(tp: Any) -> bool:
    return tp is Secret or any(_holds_secret(a) for a in typing.get_args(tp))


def walk(cls: type, path: tuple[str, ...] = (), seen: frozenset[type] = frozenset()) -> Iterator[SecretField]:
    """Every field of the schema that is, or looks like, a secret."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key", f.name)
        marked = bool(f.metadata.get("secret"))
        holds = _holds_secret(hints[f.name])
        secret_like = marked or holds or CREDENTIAL_NAME.search(key)
        if secret_like and not f.metadata.get("secret_files") and f"{cls.__name__}.{key}" not in NOT_FROM_FILES:
            yield SecretField(cls, key, marked, holds, (*path, key))
        inner, through_list = _dataclass_in(hints[f.name])
        if inner is not None and inner not in seen:
            yield from walk(inner, (*path, key, *(["[]"] if through_list else [])), seen | {cls})


SECRET_FIELDS = sorted(walk(Config), key=lambda f: f.where)
# The receivers' and Alertmanager targets' secrets this must cover, at the least.
EXPECTED = {
    "SlackConfig.api_url",
    "PagerdutyConfig.routing_key",
    "WebhookConfig.url",
    "WebhookConfig.hmac_secret",
    "HttpClientConfig.bearer_token",
    "HttpClientConfig.proxy_url",
    "BasicAuth.password",
    "Authorization.credentials",
}


def test_the_walk_finds_the_secrets_of_every_receiver_kind() -> None:
    assert EXPECTED <= {str(f) for f in SECRET_FIELDS}


@pytest.mark.parametrize("secret", SECRET_FIELDS, ids=lambda f: f.where)
def test_every_secret_field_is_marked_secret_and_typed_secret(secret: SecretField) -> None:
    """Marked: it has a `_file` form and is redacted; typed Secret: it never prints itself."""
    assert (True, True) == (secret.marked, secret.holds_secret), f"{secret}: use `Secret | None = secret_field()`"


def document(cls: type, path: tuple[str, ...], leaf: dict[str, str]) -> Any:
    """The smallest config document that reaches `path` in `cls`: required fields get a placeholder."""
    hints = typing.get_type_hints(cls)
    fields = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}
    required = {
        key: [] if typing.get_origin(hints[f.name]) is list else VALID_VALUES.get(f"{cls.__name__}.{key}", "x")
        for key, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    if len(path) == 1:  # a required secret given by its file only
        return {**{k: v for k, v in required.items() if f"{k}_file" not in leaf}, **leaf}
    head, *rest = path
    inner, _ = _dataclass_in(hints[fields[head].name])
    assert inner is not None
    if rest[0] == "[]":
        return {**required, head: [document(inner, tuple(rest[1:]), leaf)]}
    return {**required, head: document(inner, tuple(rest), leaf)}


def reach(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if key == "[]":
            value = value[0]
        else:
            f = next(f for f in dataclasses.fields(value) if f.metadata.get("key", f.name) == key)
            value = getattr(value, f.name)
    return value


def dump(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data)


@pytest.mark.parametrize("secret", SECRET_FIELDS, ids=lambda f: f.where)
def test_every_secret_field_can_come_from_a_file(secret: SecretField, tmp_path: Path) -> None:
    value = VALID_VALUES.get(str(secret), "s3cr3t-from-file")
    (tmp_path / "secret").write_text(f"{value}\n")
    key = secret.path[-1]
    text = dump(document(Config, secret.path, {f"{key}_file": str(tmp_path / "secret")}))
    config = load_text(Config, text, "cfg.yaml")
    assert value == reach(config, secret.path)


@pytest.mark.parametrize("secret", SECRET_FIELDS, ids=lambda f: f.where)
def test_a_secret_given_inline_and_from_a_file_is_refused_with_its_line(secret: SecretField, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-file\n")
    key = secret.path[-1]
    text = dump(document(Config, secret.path, {key: "inline", f"{key}_file": str(tmp_path / "secret")}))
    with pytest.raises(ConfigError) as caught:
        load_text(Config, text, "cfg.yaml")
    wanted = f"at most one of {key} and {key}_file may be set"
    assert [e for e in caught.value.errors if wanted in e], caught.value.errors
    line = text.splitlines().index(next(t for t in text.splitlines() if f"{key}_file:" in t)) + 1
    assert any(e.startswith(f"cfg.yaml:{line}: ") for e in caught.value.errors if wanted in e), caught.value.errors


def test_a_kafka_setting_given_inline_and_from_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("p\n")
    text = f"""collectors:
  kafka:
    - name: main
      bootstrap_servers: 127.0.0.1:9092
      config:
        sasl.password: inline
        sasl.password_file: {tmp_path / "pw"}
"""
    with pytest.raises(ConfigError) as caught:
        load_text(Config, text, "cfg.yaml")
    assert [
        "cfg.yaml:7: collectors.kafka[0].config.sasl.password_file: at most one of sasl.password and "
        "sasl.password_file may be set"
    ] == caught.value.errors
