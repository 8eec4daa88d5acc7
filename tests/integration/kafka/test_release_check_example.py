"""examples/release-check/ci.sh against the suite's Kafka broker: a good release passes, a broken feature X fails."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import REPO, free_port

CI = REPO / "examples" / "release-check" / "ci.sh"


def run_ci(tmp_path: Path, bootstrap: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """ci.sh with a topic and consumer group of its own, the test's Python (and its tripwired) first on PATH."""
    run = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "WORK_DIR": str(tmp_path),
        "ORDERS_TOPIC": f"orders-{run}",
        "ORDERS_GROUP": f"orders-writer-{run}",
        "TRIPWIRED_PORT": str(free_port()),
        **extra,
    }
    return subprocess.run(["bash", str(CI)], env=env, capture_output=True, text=True, timeout=180, check=False)


def test_a_release_whose_telemetry_and_kpi_hold_passes_ci(tmp_path: Path, kafka_bootstrap: str) -> None:
    result = run_ci(tmp_path, kafka_bootstrap)

    assert 0 == result.returncode, result.stdout + result.stderr + (tmp_path / "agent.log").read_text()
    assert "verification SUCCESSFUL: 1 of 1 checks passed" in result.stdout
    assert (
        'tripwired_release_info{release="orders-pipeline",version="2"} 1'
        in (tmp_path / "textfile" / "tripwired_release_orders-pipeline.prom").read_text()
    )


def test_a_release_whose_feature_x_stopped_writing_fails_ci_naming_the_table_check(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Version 2 consumes and commits every order but writes none: Kafka looks healthy, the table does not."""
    result = run_ci(tmp_path, kafka_bootstrap, BROKEN_FEATURE_X="1", CHECK_WITHIN="15s")

    assert 1 == result.returncode, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("sql_table_newest_row_timestamp_seconds" in line for line in failed), result.stdout
    assert any("orders_enriched_total > 0" in line for line in failed), result.stdout
    assert not any("kafka_consumergroup_lag" in line for line in failed), result.stdout  # Kafka looked fine
    assert "--- verify" not in result.stdout  # CI stopped at the failed check
