"""The example pipeline: consume orders from Kafka and write them to a SQLite table.

Version 1 writes orders as they come. Version 2 ships "feature X": each order is enriched with
its sales region, and the pipeline counts the orders it enriched. `--broken` is a bad build of
version 2: the enrichment raises, so no order is written any more (the consumer still commits,
so Kafka alone looks healthy). The pipeline's counters go to the agent through a textfile.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

REGIONS = {"DE": "emea", "FR": "emea", "US": "amer"}


def region_of(order: dict[str, Any], broken: bool) -> str:
    """Feature X: the sales region of an order's country."""
    if broken:
        raise KeyError("region table not loaded")  # the release's bug
    return REGIONS.get(order["country"], "other")


def write_metrics(directory: Path, counts: dict[str, int], enriched: int | None) -> None:
    """The pipeline's counters in the textfile format, written to a temporary file and renamed."""
    lines = ["# TYPE orders_pipeline_messages_total counter"]
    lines += [f'orders_pipeline_messages_total{{outcome="{k}"}} {v}' for k, v in counts.items()]
    if enriched is not None:  # only version 2 has feature X, and so this metric
        lines += ["# TYPE orders_enriched_total counter", f"orders_enriched_total {enriched}"]
    tmp = directory / ".orders_pipeline.prom.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, directory / "orders_pipeline.prom")


def init_db(path: str) -> sqlite3.Connection:
    """The orders table (written_at: Unix seconds, which the agent's SQL collector reads as freshness)."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, amount REAL, region TEXT, written_at REAL NOT NULL)"
    )
    db.commit()
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--textfile-directory", required=True, type=Path)
    parser.add_argument("--version", type=int, choices=(1, 2), default=1)
    parser.add_argument("--broken", action="store_true", help="a bad build of version 2")
    parser.add_argument("--init", action="store_true", help="only create the table")
    args = parser.parse_args()
    db = init_db(args.db)
    if args.init:
        return
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([args.topic])
    counts, enriched = {"written": 0, "failed": 0}, 0
    feature_x = args.version == 2
    write_metrics(args.textfile_directory, counts, enriched if feature_x else None)
    while not stop:
        message = consumer.poll(0.2)
        if message is None or message.error():
            continue
        order = json.loads(message.value() or b"{}")
        try:
            region = region_of(order, args.broken) if feature_x else None
            db.execute("INSERT INTO orders VALUES (?, ?, ?, ?)", (order["id"], order["amount"], region, time.time()))
            db.commit()
            counts["written"] += 1
            enriched += feature_x
        except (KeyError, sqlite3.Error):
            counts["failed"] += 1
        consumer.commit(message=message)
        write_metrics(args.textfile_directory, counts, enriched if feature_x else None)
    consumer.close()


if __name__ == "__main__":
    main()
