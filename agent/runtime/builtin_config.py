"""The built-in config: what `tripwired run` (and `make run`) uses without `--config`.

It collects what it finds on this machine and loads the shipped rule pack of each: the host always
(with the `agent` pack on tripwired itself), node_exporter's textfile directory when it exists
(Debian's), the README's example warehouse when its path exists. Kafka and SQL need a config (brokers,
a database), so their packs come with one. Alerts are routed to a receiver that sends nothing, so the
silences and Alertmanager APIs work from the first start; the state (silences, alert state) goes under
`state_dir` (`data`, relative to the working directory).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from agent.config.alerting import RouteConfig
from agent.config.receivers import ReceiverConfig
from agent.config.schema import CollectorsConfig, Config, TextfileConfig, WarehouseConfig
from agent.packs import BUILTIN_PREFIX

# Where Debian's prometheus-node-exporter reads textfiles, so jobs that already write there are seen.
TEXTFILE_DIRECTORY = "/var/lib/prometheus/node-exporter"
# The README's example warehouse.
EXAMPLE_WAREHOUSE = WarehouseConfig(name="lake", paths=["/data/lake"])
DEFAULT_RECEIVER = "default"


def builtin_config(exists: Callable[[str], bool] = lambda path: Path(path).is_dir()) -> Config:
    """The built-in config, for the directories that `exists` says are there."""
    textfile = TextfileConfig(directory=TEXTFILE_DIRECTORY if exists(TEXTFILE_DIRECTORY) else None)
    warehouses = [EXAMPLE_WAREHOUSE] if all(exists(path) for path in EXAMPLE_WAREHOUSE.paths) else []
    config = Config(
        collectors=CollectorsConfig(textfile=textfile, warehouse=warehouses),
        route=RouteConfig(receiver=DEFAULT_RECEIVER),
        receivers=[ReceiverConfig(name=DEFAULT_RECEIVER)],
    )
    return dataclasses.replace(config, rule_files=packs_for(config.collectors))


def packs_for(collectors: CollectorsConfig) -> list[str]:
    """`builtin:` rule-file entries for the shipped packs whose metrics these collectors produce."""
    wanted = {
        "agent": True,
        "host": collectors.host.enabled,
        "textfile": collectors.textfile.directory is not None,
        "warehouse": bool(collectors.warehouse),
        "kafka": bool(collectors.kafka),
        "sql": bool(collectors.sql),
    }
    return [f"{BUILTIN_PREFIX}{name}" for name, on in wanted.items() if on]
