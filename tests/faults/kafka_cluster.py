"""A small real Kafka cluster on loopback, for faults that need more than one broker: a leader that moves.

Two KRaft nodes: node 1 is a broker and the cluster's only controller, node 2 a broker only,
so node 2 can be stopped and started while the cluster keeps its controller. Each node is
scripts/kafka_broker.py's broker (the same cached jars, JVM heap and readiness check), formatted
with one shared cluster id. The group offsets topic is replicated to both nodes, so a group's
committed offsets survive either broker's stop.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from scripts import kafka_broker

CONTROLLER_ID = 1
OFFSETS_TOPIC = "__consumer_offsets"


class ClusterNode(kafka_broker.KafkaBroker):
    """One node of a `KafkaCluster`: the controller's node, or a broker that joins it."""

    def __init__(
        self, work_dir: Path, kafka_home: Path, node_id: int, cluster_id: str, controller: ClusterNode | None
    ) -> None:
        super().__init__(work_dir, kafka_home)
        self.node_id = node_id
        self._cluster_id = cluster_id
        self._controller = controller

    def kill(self) -> None:
        """SIGKILL the JVM, as a crashed machine would end it: no controlled shutdown hands its leadership on."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_log()

    def _format(self, port: int, controller_port: int) -> None:
        """Write this node's server.properties and format its log dir into the cluster."""
        if self._controller is not None:
            controller_port = self._controller.controller_port
        self.port, self.controller_port = port, controller_port
        data = self.work_dir / "data"
        shutil.rmtree(data, ignore_errors=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "log4j2.properties").write_text(kafka_broker.LOG4J2_PROPERTIES)
        (self.work_dir / "server.properties").write_text(self._properties(port, controller_port, data))
        command = self._java("kafka.tools.StorageTool", "format", "-t", self._cluster_id, "-c", self._config())
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise kafka_broker.BrokerError(f"formatting node {self.node_id} failed:\n{result.stdout}{result.stderr}")

    def _properties(self, port: int, controller_port: int, data: Path) -> str:
        """The one-node settings, changed for a node among several."""
        lines = kafka_broker.server_properties(port, controller_port, data).splitlines()
        settings = dict(line.split("=", 1) for line in lines)
        settings.update(
            {
                "node.id": str(self.node_id),
                "offsets.topic.replication.factor": "2",
                # 50 partitions (the default) at replication 2 took over 30 s to create on a loaded
                # 2-core machine; the groups here need a few.
                "offsets.topic.num.partitions": "4",
                # The test moves leaders itself; the controller must not move them back meanwhile.
                "auto.leader.rebalance.enable": "false",
            }
        )
        if self._controller is not None:
            settings["process.roles"] = "broker"
            settings["listeners"] = f"PLAINTEXT://127.0.0.1:{port}"
        return "".join(f"{key}={value}\n" for key, value in settings.items())


class KafkaCluster:
    """Two running nodes and the bootstrap list that names both, as an operator configures it."""

    def __init__(self, nodes: list[ClusterNode]) -> None:
        self.nodes = nodes

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def settle_offsets_topic(self, budget: float = 120.0) -> None:
        """Create the group offsets topic (a first group commit does) and wait until every node holds it in sync.

        Before that, the coordinator of a group can move while the topic's leadership settles, and
        a group committed meanwhile can be lost with it.
        """
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        request = [ConsumerGroupTopicPartitions("warm-up", [TopicPartition("warm-up", 0, 0)])]
        deadline = time.monotonic() + budget
        try:  # the answer does not matter (the topic "warm-up" need not exist); that the commit was made does
            admin.alter_consumer_group_offsets(request)[request[0].group_id].exception(budget)
        except TimeoutError:
            raise kafka_broker.BrokerError(f"no node answered a first group commit within {budget:g} s") from None
        while not self._offsets_topic_in_sync(admin):
            if time.monotonic() > deadline:
                raise kafka_broker.BrokerError("the group offsets topic did not get in sync on every node")
            time.sleep(0.2)

    def _offsets_topic_in_sync(self, admin: AdminClient) -> bool:
        topic = admin.list_topics(OFFSETS_TOPIC, timeout=10).topics.get(OFFSETS_TOPIC)
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        return all(p.leader >= 0 and len(p.isrs) == len(self.nodes) for p in topic.partitions.values())

    def node(self, node_id: int) -> ClusterNode:
        return next(node for node in self.nodes if node.node_id == node_id)


def commit_until_listed(admin: AdminClient, group: str, offsets: list[TopicPartition], budget: float = 60.0) -> None:
    """Commit `group`'s offsets, again until the cluster lists the group three times running.

    On a new cluster (or a broker's first group) the first commit creates the offsets topic; a
    commit made while its leadership settles can be lost with the coordinator that took it (seen
    with Kafka 4.1, on one broker and on two).
    """
    request = [ConsumerGroupTopicPartitions(group, offsets)]
    deadline = time.monotonic() + budget
    listed = 0
    while listed < 3:
        assert time.monotonic() < deadline, f"group {group} not listed after its commits"
        if listed == 0:
            # The first commit on a new broker creates the offsets topic: it may take the whole budget.
            admin.alter_consumer_group_offsets(request)[group].result(max(1.0, deadline - time.monotonic()))
        groups = admin.list_consumer_groups(request_timeout=10).result().valid
        listed = listed + 1 if group in {g.group_id for g in groups} else 0
        time.sleep(0.5)


@contextlib.contextmanager
def running_cluster(base_dir: Path, brokers: int = 2) -> Iterator[KafkaCluster]:
    """A started cluster of `brokers` nodes (node 1 also the controller), stopped and removed afterwards."""
    kafka_broker.require_tools()
    kafka_home = kafka_broker.ensure_kafka()
    work_dir = Path(tempfile.mkdtemp(prefix="tripwired-kafka-cluster-", dir=base_dir))
    cluster_id = kafka_broker.new_cluster_id()
    controller = ClusterNode(work_dir / "node-1", kafka_home, CONTROLLER_ID, cluster_id, None)
    nodes = [controller] + [
        ClusterNode(work_dir / f"node-{n}", kafka_home, n, cluster_id, controller) for n in range(2, brokers + 1)
    ]
    try:
        for node in nodes:
            node.start()
        cluster = KafkaCluster(nodes)
        cluster.settle_offsets_topic()
        yield cluster
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
