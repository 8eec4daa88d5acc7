"""The agent's Prometheus HTTP API answers a corpus of requests as a real Prometheus 2.42 does.

Both hold the same samples (tests/web/promapi_samples.py): Prometheus backfilled with promtool,
the agent's store filled from the same OpenMetrics file. Every request of
tests/web/promapi_corpus.yaml goes to both; status, JSON and float strings must be equal, except
where an entry names what differs and why (`differs`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.remote_receivers import ReceiverProcess
from tests.web.promapi_oracle import agent_routes, backfilled_prometheus, loaded_store, normalized, serving
from tests.web.promapi_samples import openmetrics_text, sample_set

CORPUS_PATH = Path(__file__).with_name("promapi_corpus.yaml")
CORPUS: list[dict[str, Any]] = yaml.safe_load(CORPUS_PATH.read_text(encoding="utf-8"))
DIFFERENCES = frozenset({"error", "data"})  # what an entry may declare as differing, with a reason


@pytest.fixture(scope="module")
def openmetrics_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("promapi") / "samples.om"
    path.write_text(openmetrics_text(sample_set()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prometheus(openmetrics_file: Path) -> Iterator[ReceiverProcess]:
    receiver = backfilled_prometheus(openmetrics_file, openmetrics_file.parent / "prometheus")
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def agent_url(openmetrics_file: Path) -> Iterator[str]:
    with serving(agent_routes(loaded_store(openmetrics_file.read_text(encoding="utf-8")))) as url:
        yield url


def ask(base: str, entry: dict[str, Any]) -> httpx.Response:
    """One corpus request: GET with the parameters in the URL, POST with them as a form body."""
    params = entry.get("params") or {}
    pairs = list(params.items()) if isinstance(params, dict) else [tuple(p) for p in params]
    if entry.get("method", "GET") == "POST":
        return httpx.post(base + entry["path"], data=dict(pairs) if isinstance(params, dict) else pairs, timeout=60)
    return httpx.get(base + entry["path"], params=pairs, timeout=60)


def test_the_corpus_is_big_enough_and_well_formed() -> None:
    """At least 100 requests, unique ids, every difference with a reason."""
    assert len(CORPUS) >= 100
    assert len({e["id"] for e in CORPUS}) == len(CORPUS)
    for entry in CORPUS:
        assert set(entry.get("differs", {})) <= DIFFERENCES, entry["id"]
        assert all(reason.strip() for reason in entry.get("differs", {}).values()), entry["id"]


@pytest.mark.parametrize("entry", CORPUS, ids=[e["id"] for e in CORPUS])
def test_the_agent_answers_as_prometheus_does(
    entry: dict[str, Any], prometheus: ReceiverProcess, agent_url: str
) -> None:
    """A request to Prometheus 2.42 and to the agent over the same samples gets the same answer."""
    expected = ask(prometheus.url, entry)
    actual = ask(agent_url, entry)
    assert (expected.status_code, expected.headers["content-type"]) == (
        actual.status_code,
        actual.headers["content-type"],
    )
    want, got = expected.json(), actual.json()
    for key in entry.get("differs", {}):  # declared differences: the rest must still agree
        if key == "data" and isinstance(want.get("data"), list):  # the agent lists no more than Prometheus
            assert {json.dumps(x, sort_keys=True) for x in got["data"]} <= {
                json.dumps(x, sort_keys=True) for x in want["data"]
            }
        want.pop(key, None)
        got.pop(key, None)
    ordered = entry.get("ordered", False)
    assert normalized(entry["path"], want, ordered) == normalized(entry["path"], got, ordered)
