"""Prometheus' relabelling, case by case as model/relabel/relabel_test.go spells them."""

from __future__ import annotations

from typing import Any

import pytest

from agent.config.remote_write import RelabelAction, RelabelConfig
from agent.relabel import Relabeler

LABELS = {"__name__": "up", "job": "node", "instance": "host:9100"}


def apply(labels: dict[str, str], **config: Any) -> dict[str, str] | None:
    """`labels` through one relabel step made of RelabelConfig's keyword arguments."""
    return Relabeler([RelabelConfig(**config)]).apply(labels)


def test_replace_with_groups() -> None:
    out = apply(LABELS, source_labels=["instance"], regex="(.*):.*", target_label="host", replacement="${1}")
    assert {**LABELS, "host": "host"} == out


def test_replace_is_anchored() -> None:
    assert LABELS == apply(LABELS, source_labels=["job"], regex="od", target_label="x", replacement="y")


def test_replace_with_an_empty_result_deletes_the_target() -> None:
    assert {"__name__": "up", "instance": "host:9100"} == apply(
        LABELS, source_labels=["job"], target_label="job", replacement=""
    )


def test_source_labels_are_joined_by_the_separator() -> None:
    out = apply(LABELS, source_labels=["job", "instance"], separator="/", target_label="id")
    assert "node/host:9100" == (out or {})["id"]


@pytest.mark.parametrize(("action", "kept"), [(RelabelAction.KEEP, True), (RelabelAction.DROP, False)])
def test_keep_and_drop(action: RelabelAction, kept: bool) -> None:
    out = apply(LABELS, source_labels=["__name__"], regex="up|down", action=action)
    assert (out is not None) == kept


def test_labeldrop_and_labelkeep() -> None:
    assert {"__name__": "up", "job": "node"} == apply(LABELS, regex="instance", action=RelabelAction.LABELDROP)
    assert {"job": "node"} == apply(LABELS, regex="job", action=RelabelAction.LABELKEEP)


def test_labelmap() -> None:
    out = apply({"__meta_team": "a", "x": "1"}, regex="__meta_(.+)", replacement="$1", action=RelabelAction.LABELMAP)
    assert {"__meta_team": "a", "team": "a", "x": "1"} == out


def test_hashmod_matches_prometheus() -> None:
    """relabel_test.go: modulus 1000 maps `baz` to 976 and `foo\\nbar` to 734."""
    for value, expected in (("baz", "976"), ("foo\nbar", "734")):
        out = apply({"c": value}, source_labels=["c"], target_label="d", modulus=1000, action=RelabelAction.HASHMOD)
        assert expected == (out or {})["d"]


def test_lowercase_and_keepequal() -> None:
    assert (
        "node"
        == (apply({"a": "NODE"}, source_labels=["a"], target_label="b", action=RelabelAction.LOWERCASE) or {})["b"]
    )
    assert apply({"a": "x", "b": "x"}, source_labels=["a"], target_label="b", action=RelabelAction.KEEPEQUAL)
    assert apply({"a": "x", "b": "y"}, source_labels=["a"], target_label="b", action=RelabelAction.KEEPEQUAL) is None


def test_replace_without_target_is_refused() -> None:
    with pytest.raises(ValueError, match="requires 'target_label'"):
        RelabelConfig(source_labels=["a"], action=RelabelAction.REPLACE)


def test_regex_does_not_match_before_a_final_newline_as_in_re2() -> None:
    """Python's `$` also matches before a trailing newline; Prometheus' RE2 anchoring does not."""
    labels = {"__name__": "up", "job": "node\n"}
    assert apply(labels, source_labels=["job"], regex="node", action=RelabelAction.KEEP) is None


def test_regex_dot_matches_a_newline_as_in_prometheus_3() -> None:
    """Prometheus 3 anchors relabel regexes as `^(?s:regex)$`."""
    labels = {"__name__": "up", "job": "a\nb"}
    assert labels == apply(labels, source_labels=["job"], regex="a.b", action=RelabelAction.KEEP)


def test_a_backreference_python_would_take_is_refused() -> None:
    """Python's re accepts `(a)\\1`; Go's regexp, and so Prometheus' config loader, refuse it."""
    with pytest.raises(ValueError, match="invalid escape sequence"):
        RelabelConfig(source_labels=["job"], regex="(a)\\1", action=RelabelAction.KEEP)
