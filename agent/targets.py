"""Target labels: the `job` and `instance` a Prometheus scraping a collector would give its samples.

Each collector is a target. Its samples get the target's labels as Prometheus' scrape with
`honor_labels: false` gives them (scrape/scrape.go, mutateSampleLabels): a label the sample already
has under a target label's name moves to `exported_<name>`. The store, the rules, the query API,
alerts and remote_write all see them; the /metrics exposition leaves them out again (`exposed`),
since a Prometheus scraping the agent adds its own. Each collector also gets Prometheus' synthetic
series (`up`, `scrape_duration_seconds`, ...) under the same labels, never shown on /metrics.

A target's pairs are built once and reused in every label set, so the store, which keeps one copy
of each label pair, keeps them once for all series.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass

from agent.model import Labels, MetricMeta, gauge, labels_of

# The job name Prometheus users conventionally give the exporter a collector stands in for; any
# other collector's job is its own name (kafka's is already "kafka").
DEFAULT_JOBS = {"host": "node", "process": "tripwired"}
EXPORTED_PREFIX = "exported_"
TARGET_LABEL_NAMES = frozenset(("job", "instance"))  # what a target's labels may be named (make_target)

SYNTHETIC_METRICS: tuple[MetricMeta, ...] = (
    gauge("up", "Whether the collector's last run succeeded (1) or failed or timed out (0), as Prometheus' up."),
    gauge("scrape_duration_seconds", "Duration of the collector's last run, as Prometheus' scrape_duration_seconds."),
    gauge("scrape_samples_scraped", "Samples the collector's last run returned."),
    gauge("scrape_series_added", "Series the collector's last run added to the store."),
)
SYNTHETIC_NAMES = frozenset(meta.name for meta in SYNTHETIC_METRICS)


@dataclass(frozen=True, slots=True)
class Target:
    """One collector as a Prometheus target: its `job` and `instance`, and what tells it from its siblings.

    `labels` go on every sample of the collector; `up_labels` (the same plus `extra`, such as a
    Kafka collector's `cluster`) on its synthetic series, so two collectors of one kind differ.
    """

    labels: Labels
    up_labels: Labels

    @property
    def key(self) -> tuple[str, str]:
        """(job, instance): what tells the target's series apart from every other's."""
        own = dict(self.labels)
        return own.get("job", ""), own.get("instance", "")


NO_TARGET = Target((), ())  # samples written as the collector returns them, no synthetic series


def make_target(job: str, instance: str, extra: Labels = ()) -> Target:
    """A target of these labels, its pairs made once so that every label set shares them."""
    labels = labels_of(job=job, instance=instance)
    return Target(labels, tuple(sorted((*labels, *(pair for pair in extra if pair[0] not in dict(labels))))))


def default_instance(listen_address: str) -> str:
    """The agent's own `host:port`, as a Prometheus scraping it would name it; a wildcard host is the hostname."""
    host, _, port = listen_address.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


def attach(target: Labels, labels: Labels) -> Labels:
    """`labels` with the target's, as Prometheus attaches them (honor_labels: false).

    A label of the sample under a target label's name keeps its value as `exported_<name>`
    (`exported_exported_<name>` if that is taken, and so on), the shorter names first.
    """
    if not any(name in TARGET_LABEL_NAMES for name, _ in labels):
        return tuple(sorted(labels + target))
    own = dict(labels)
    clashes = sorted((name for name, _ in target if name in own), key=len)
    taken = {*own, *(name for name, _ in target)}
    moved: list[tuple[str, str]] = []
    for name in clashes:
        exported = EXPORTED_PREFIX + name
        while exported in taken:
            exported = EXPORTED_PREFIX + exported
        taken.add(exported)
        moved.append((exported, own.pop(name)))
    kept = [pair for pair in labels if pair[0] in own]
    return tuple(sorted((*kept, *moved, *target)))


def attacher(target: Labels) -> Callable[[Labels], Labels]:
    """`attach` for one write: a label set shared by several samples is extended once and stays shared.

    A collector hands one label set to all the families of a partition; it is looked up by
    identity. The label sets seen are held until the attacher is dropped, so that no id is reused
    meanwhile: make one per write.
    """
    done: dict[int, tuple[Labels, Labels]] = {}

    def attached(labels: Labels) -> Labels:
        seen = done.get(id(labels))
        if seen is None:
            seen = done[id(labels)] = (labels, attach(target, labels))
        return seen[1]

    return attached


def is_synthetic(name: str, labels: Labels, targets: Collection[tuple[str, str]]) -> bool:
    """Whether a series is one of a target's `up` and `scrape_*` (a textfile's own `up` is not, on its own labels)."""
    if name not in SYNTHETIC_NAMES:
        return False
    own = dict(labels)
    return (own.get("job"), own.get("instance")) in targets


def exposed(labels: Labels, targets: Collection[tuple[str, str]]) -> Labels:
    """`labels` as the collector exposed them: without its target's `job` and `instance`, `exported_*` back.

    `targets` are the (job, instance) of every target; a label set with another job or instance
    (the agent's own series, a rule's result that dropped them) is returned as it is. Prometheus'
    renaming loses one thing: a sample that had `exported_job` but no `job` shows as `job`.
    Called for every series of a /metrics rendering: the common case is a dict and a tuple.
    """
    own = dict(labels)
    if (own.get("job"), own.get("instance")) not in targets:
        return labels
    return _untargeted(own)


def untargeted(labels: Labels) -> Labels | None:
    """`labels` without `job` and `instance` and with `exported_*` back, as before target labels; None without both."""
    own = dict(labels)
    if not TARGET_LABEL_NAMES <= own.keys():
        return None
    return _untargeted(own)


def _untargeted(own: dict[str, str]) -> Labels:
    renamed = EXPORTED_PREFIX + "job" in own or EXPORTED_PREFIX + "instance" in own  # any renaming made one
    for name in ("job", "instance"):
        del own[name]
        exported = EXPORTED_PREFIX + name
        if renamed and exported in own:
            while EXPORTED_PREFIX + exported in own:
                exported = EXPORTED_PREFIX + exported
            own[name] = own.pop(exported)
    return tuple(sorted(own.items())) if renamed else tuple(own.items())
