"""Produce COUNT example orders to the topic (created first if it does not exist)."""

from __future__ import annotations

import argparse
import json
import uuid

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap: str, topic: str) -> None:
    """Create the topic, or leave it as it is when it exists."""
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the result is in
    future = admin.create_topics([NewTopic(topic, 1, 1)])[topic]
    try:
        future.result(timeout=30)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("count", type=int)
    args = parser.parse_args()
    create_topic(args.bootstrap, args.topic)
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 0})
    for i in range(args.count):
        order = {"id": uuid.uuid4().hex, "amount": 10.0 + i, "country": ("DE", "FR", "US")[i % 3]}
        producer.produce(args.topic, json.dumps(order).encode())
    if producer.flush(30):
        raise SystemExit("some orders were not delivered")


if __name__ == "__main__":
    main()
