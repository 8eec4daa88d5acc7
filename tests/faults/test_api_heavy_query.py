"""The heaviest range query the API takes, against the real daemon, while it is scraped."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import StartDaemon

SCRAPES = 20


def test_the_largest_range_query_does_not_hold_up_scrapes(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A range query of 11,000 steps over every series, sent while Prometheus scrapes /metrics
    Scrapes are answered while the range query is still being evaluated; the query then answers in full.
    """
    daemon = start_daemon("global: {interval: 1s}\n")
    daemon.wait_ready()
    now = math.ceil(time.time())  # at or after the first collection, so the last steps count its series
    params: dict[str, str | int] = {"query": 'count({__name__=~".+"})', "start": now - 11_000, "end": now, "step": 1}
    answers: list[httpx.Response] = []
    heavy = threading.Thread(
        target=lambda: answers.append(httpx.get(f"{daemon.url}/api/v1/query_range", params=params, timeout=600))
    )
    heavy.start()
    during = 0  # scrapes answered while the range query had not been answered yet
    for _ in range(SCRAPES):
        scrape = daemon.get("/metrics")
        assert 200 == scrape.status_code
        if not heavy.is_alive():
            break
        during += 1
    heavy.join(600)

    assert during >= 2, "scrapes waited for the range query"  # one may have been read before it
    assert 200 == answers[0].status_code, answers[0].text
    values = answers[0].json()["data"]["result"][0]["values"]
    assert now == values[-1][0]  # evaluated to the end: the series written since the start are counted
