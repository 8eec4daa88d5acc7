"""The built-in config (`tripwired run` without --config) and the `builtin:NAME` rule-file entries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent import cli
from agent.config import Config, load_text
from agent.config.schema import CollectorsConfig
from agent.packs import pack_names, packs_directory
from agent.runtime.builtin_config import EXAMPLE_WAREHOUSE, TEXTFILE_DIRECTORY, builtin_config, packs_for
from agent.runtime.daemon import rule_paths
from agent.runtime.validate import config_errors


def test_on_a_bare_machine_it_loads_the_host_and_agent_packs_only() -> None:
    config = builtin_config(exists=lambda path: False)
    assert (["builtin:agent", "builtin:host"], None, []) == (
        config.rule_files,
        config.collectors.textfile.directory,
        config.collectors.warehouse,
    )


def test_the_textfile_directory_and_the_example_warehouse_bring_their_packs_when_they_exist() -> None:
    config = builtin_config(exists=lambda path: True)
    assert ["builtin:agent", "builtin:host", "builtin:textfile", "builtin:warehouse"] == config.rule_files
    assert (TEXTFILE_DIRECTORY, [EXAMPLE_WAREHOUSE]) == (
        config.collectors.textfile.directory,
        config.collectors.warehouse,
    )


KAFKA_AND_SQL = """
collectors:
  kafka: [{name: main, bootstrap_servers: "127.0.0.1:9092"}]
  sql: [{name: shop, url: "sqlite:///shop.db"}]
"""


def with_kafka_and_sql(collectors: CollectorsConfig) -> CollectorsConfig:
    configured = load_text(Config, KAFKA_AND_SQL, "kafka-and-sql.yaml").collectors
    return dataclasses.replace(collectors, kafka=configured.kafka, sql=configured.sql)


def test_kafka_and_sql_packs_come_with_their_collectors() -> None:
    collectors = builtin_config(exists=lambda path: False).collectors
    assert ["builtin:agent", "builtin:host", "builtin:kafka", "builtin:sql"] == packs_for(
        with_kafka_and_sql(collectors)
    )


def test_every_pack_it_may_name_is_shipped_and_the_config_is_valid() -> None:
    config = builtin_config(exists=lambda path: True)
    every = packs_for(with_kafka_and_sql(config.collectors))
    assert sorted(entry.removeprefix("builtin:") for entry in every) == pack_names()
    assert [] == config_errors(config, "<built-in config>")


def test_builtin_entries_resolve_to_the_installed_packs_wherever_the_config_file_is() -> None:
    config = dataclasses.replace(builtin_config(exists=lambda path: False), rule_files=["builtin:host", "builtin:*"])
    assert [str(packs_directory() / "host.yaml"), str(packs_directory() / "*.yaml")] == rule_paths(
        config, "/etc/tripwired/tripwired.yaml"
    )


def test_config_check_names_an_unknown_pack_and_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("rule_files: [builtin:host, builtin:hots]\n")
    assert 2 == cli.main(["config", "check", str(config)])
    known = ", ".join(pack_names())
    assert f"{config}: rule_files[1]: no shipped rule pack 'hots' (known: {known}, *)" in capsys.readouterr().err
