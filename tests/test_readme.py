"""The README tells the truth: its full config example is valid, and the commands it names exist."""

from __future__ import annotations

import re

import pytest

from agent.cli import _parser
from agent.config import Config, load_text
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_the_full_config_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PASSWORD", "from-the-environment")
    section = README.split("## Configuration", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    config = load_text(Config, example.group(1), "README.md")
    assert config.collectors.warehouse[0].name == "lake"
    assert config.collectors.kafka[0].config["sasl.password"] == "from-the-environment"


def test_every_command_in_the_command_table_parses() -> None:
    parser = _parser()
    for line in re.findall(r"^\| `tripwired ([^`]*)`", README, re.M):
        words = [w for w in re.sub(r"\[[^\]]*\]|\.\.\.", "", line).split() if w.isascii()]
        args = [("x" if w.isupper() else w) for w in words]
        if args == ["--version"]:
            continue
        parser.parse_args(args)  # SystemExit (a failure) if the README names a command that does not exist
