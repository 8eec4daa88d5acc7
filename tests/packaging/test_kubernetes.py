"""packaging/kubernetes/: schema-valid manifests whose flags, ports, paths and configs are tripwired's real ones.

kubeconform is neither on PyPI nor in Debian; kubernetes-validate (PyPI) ships the
Kubernetes JSON schemas and validates offline. It has no schema for the Prometheus
Operator's PodMonitor, whose fields are checked here by hand.
"""

from __future__ import annotations

import fnmatch
import io
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agent import cli
from agent.cli import _parser
from agent.config import Config, load_text
from agent.packs import pack_names
from agent.ruler.ruletest import check_rules
from agent.runtime.daemon import parse_listen_address
from tests.conftest import REPO

MANIFESTS = sorted((REPO / "packaging" / "kubernetes").glob("*.yaml"))
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported upstream when this was written
API_VERSIONS = {
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "DaemonSet": "apps/v1",
    "Deployment": "apps/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
}
Manifest = dict[str, Any]


def documents() -> list[tuple[str, Manifest]]:
    found = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((path.name, doc))
    return found


DOCUMENTS = documents()


def of_kind(*kinds: str) -> list[Manifest]:
    return [doc for _, doc in DOCUMENTS if doc["kind"] in kinds]


def workloads() -> list[Manifest]:
    return of_kind("DaemonSet", "Deployment")


def tripwired_containers() -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """(workload, container) for every container running the tripwired image."""
    for workload in workloads():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            if container["image"].startswith("tripwired:"):
                yield workload, container


def flags(container: dict[str, Any]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in container["args"] if arg.startswith("--"))


def volume(workload: Manifest, name: str) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["volumes"]
    return next(v for v in volumes if v["name"] == name)


def mount_for(container: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume mount that holds `path` (the deepest mount path above it)."""
    holding = [
        m
        for m in container["volumeMounts"]
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    return max(holding, key=lambda m: len(m["mountPath"]))


def configmap(namespace: str, name: str) -> dict[str, str]:
    data: dict[str, str] = next(
        cm["data"]
        for cm in of_kind("ConfigMap")
        if cm["metadata"]["name"] == name and cm["metadata"]["namespace"] == namespace
    )
    return data


def configmap_files(workload: Manifest, container: dict[str, Any]) -> dict[str, str]:
    """Path in the container -> content, for every ConfigMap key mounted into it."""
    files = {}
    for mount in container["volumeMounts"]:
        source = volume(workload, mount["name"]).get("configMap")
        if source is not None:
            for key, text in configmap(workload["metadata"]["namespace"], source["name"]).items():
                files[posixpath.join(mount["mountPath"], key)] = text
    return files


def container_config(workload: Manifest, container: dict[str, Any]) -> Config:
    path = flags(container)["config"]
    return load_text(Config, configmap_files(workload, container)[path], path)


def test_every_manifest_has_a_known_kind_and_its_api_version() -> None:
    assert [] == [
        (name, doc["kind"], doc["apiVersion"])
        for name, doc in DOCUMENTS
        if API_VERSIONS.get(doc["kind"]) != doc["apiVersion"]
    ]


@pytest.mark.parametrize(
    "name,doc",
    [(n, d) for n, d in DOCUMENTS if d["kind"] != "PodMonitor"],
    ids=lambda value: value if isinstance(value, str) else value["metadata"]["name"],
)
def test_manifest_validates_against_the_kubernetes_schema(name: str, doc: Manifest) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {str(exc).splitlines()[0]}")


def test_the_workloads_issue_7_asks_for_are_there() -> None:
    shapes = sorted(
        (w["kind"], w["spec"].get("replicas"), sum(1 for c in w["spec"]["template"]["spec"]["containers"]))
        for w in workloads()
    )
    assert [("DaemonSet", None, 1), ("Deployment", 1, 1), ("Deployment", 1, 2)] == shapes


def test_every_tripwired_container_command_line_parses_with_the_cli() -> None:
    parser = _parser()
    assert [] == [
        c["name"]
        for _, c in tripwired_containers()
        if "command" in c or parser.parse_args(c["args"]).command.__name__ != "_run"
    ]


def test_container_port_is_the_listen_address_port_on_all_interfaces() -> None:
    for _, container in tripwired_containers():
        [port] = container["ports"]
        assert (("0.0.0.0", port["containerPort"]), "tripwired") == (
            parse_listen_address(flags(container)["web.listen-address"]),
            port["name"],
        )


def test_probes_ask_the_health_endpoints_on_the_tripwired_port() -> None:
    for _, container in tripwired_containers():
        probes = (container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"])
        assert ({"path": "/-/ready", "port": "tripwired"}, {"path": "/-/healthy", "port": "tripwired"}) == probes


def test_daemonset_reads_the_host_through_read_only_mounts_named_by_the_path_flags() -> None:
    [daemonset] = of_kind("DaemonSet")
    [container] = daemonset["spec"]["template"]["spec"]["containers"]
    wanted = {"path.procfs": "/proc", "path.sysfs": "/sys", "path.rootfs": "/"}
    found = {}
    for flag in wanted:
        mount = mount_for(container, flags(container)[flag])
        assert mount["mountPath"] == flags(container)[flag] and mount.get("readOnly") is True
        found[flag] = volume(daemonset, mount["name"])["hostPath"]["path"]
    assert (wanted, False) == (found, daemonset["spec"]["template"]["spec"]["hostPID"])


def test_config_flag_names_a_mounted_configmap_file_that_passes_config_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for workload, container in tripwired_containers():
        config_file = tmp_path / f"{workload['metadata']['name']}.yaml"
        text = configmap_files(workload, container)[flags(container)["config"]]
        config_file.write_text(text)  # the packs (`builtin:NAME`) ship inside the program, as in the image
        assert 0 == cli.main(["config", "check", str(config_file)]), capsys.readouterr().err


def test_state_dir_is_a_writable_volume() -> None:
    for workload, container in tripwired_containers():
        mount = mount_for(container, container_config(workload, container).state_dir)
        assert (container_config(workload, container).state_dir, False) == (
            mount["mountPath"],
            mount.get("readOnly", False),
        )


def test_every_rule_glob_finds_a_shipped_pack_or_a_mounted_rule_file() -> None:
    shipped = [f"builtin:{name}" for name in pack_names()]
    for workload, container in tripwired_containers():
        files = [*shipped, *configmap_files(workload, container)]
        for pattern in container_config(workload, container).rule_files:
            assert any(fnmatch.fnmatch(path, pattern) for path in files), (workload["metadata"]["name"], pattern)


def test_rule_files_in_configmaps_pass_rules_check(tmp_path: Path) -> None:
    paths = []
    for workload, container in tripwired_containers():
        config = container_config(workload, container)
        for path, text in configmap_files(workload, container).items():
            if path != flags(container)["config"] and any(fnmatch.fnmatch(path, p) for p in config.rule_files):
                paths.append(tmp_path / f"{workload['metadata']['name']}-{posixpath.basename(path)}")
                paths[-1].write_text(text)
    out = io.StringIO()
    assert paths, "no ConfigMap holds a rule file"
    assert 0 == check_rules([str(p) for p in paths], out), out.getvalue()


def test_service_routes_to_the_kafka_deployment_tripwired_port() -> None:
    [service] = of_kind("Service")
    [kafka] = [w for w in workloads() if w["metadata"]["name"] == "tripwired-kafka"]
    labels = kafka["spec"]["template"]["metadata"]["labels"]
    assert (True, "tripwired") == (
        service["spec"]["selector"].items() <= labels.items(),
        service["spec"]["ports"][0]["targetPort"],
    )


def test_podmonitor_selects_every_tripwired_pod_on_a_port_it_has() -> None:
    [monitor] = of_kind("PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    for workload, container in tripwired_containers():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert (True, True) == (
            selector.items() <= labels.items(),
            endpoint["port"] in [p["name"] for p in container["ports"]],
        )
    assert ({"any": True}, "/metrics") == (monitor["spec"]["namespaceSelector"], endpoint["path"])
