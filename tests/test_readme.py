"""The README tells the truth: its full config example is valid, and the commands it names exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.cli import _parser
from agent.config import Config, load_text
from agent.config.verify import ChecksFile
from agent.runtime.validate import config_errors
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


@pytest.mark.parametrize(
    "section",
    ["## Notifications", "### Notification templates", "## Security", "## Data in tables", "## Shipping to a central"],
)
def test_config_snippets_are_valid(section: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "from-the-environment")
    for secret in (
        "slack-webhook-url",
        "webhook-secret",
        "pg-password",
        "vm-password",
        "smtp-password",
        "opsgenie-key",
    ):  # the *_file secrets it names, read at load time
        (tmp_path / secret).write_text("https://hooks.example.internal/T000/B000/XXXX\n")
    example = re.search(r"```yaml\n(.*?)```", README.split(section, 1)[1], re.S)
    assert example is not None
    config = load_text(Config, example.group(1).replace("/etc/tripwired/", f"{tmp_path}/"), "README.md")
    assert config_errors(config, "README.md") == []


def test_every_config_in_the_scale_out_guide_is_valid(tmp_path: Path) -> None:
    guide = (REPO / "docs" / "scale-out.md").read_text()
    (tmp_path / "vm-password").write_text("secret\n")
    examples = re.findall(r"```yaml\n(.*?)```", guide, re.S)

    assert len(examples) == 2
    for example in examples:
        config = load_text(Config, example.replace("/etc/tripwired/", f"{tmp_path}/"), "docs/scale-out.md")
        assert config_errors(config, "docs/scale-out.md") == []


def test_the_checks_file_examples_of_verify_are_valid() -> None:
    section = README.split("### Verify a release", 1)[1]
    reference = (REPO / "docs" / "verify.md").read_text()
    for where, text in (("README.md", section), ("docs/verify.md", reference)):
        example = re.search(r"```yaml\n(.*?)```", text, re.S)
        assert example is not None
        assert load_text(ChecksFile, example.group(1), where).checks
