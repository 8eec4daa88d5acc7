"""/metrics of a real daemon: gzip when asked, and a cached rendering that follows every change."""

from __future__ import annotations

import gzip
import http.client
from pathlib import Path

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from tests.conftest import DaemonProcess, StartDaemon, wait_until

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def raw_get(
    daemon: DaemonProcess, accept_encoding: str | None, accept: str | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and the body as sent, not decoded."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
    if accept is not None:
        headers["Accept"] = accept
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200
    return {name.lower(): value for name, value in response.getheaders()}, body


def textfile_config(directory: Path, *, textfile: bool = True) -> str:
    collectors = f"collectors:\n  textfile: {{directory: {directory}}}\n" if textfile else ""
    return f"global: {{interval: 1s}}\n{collectors}"


def exposed(daemon: DaemonProcess) -> str:
    return daemon.get("/metrics").text


def test_gzip_when_the_client_asks_and_the_same_bytes_inside(start_daemon: StartDaemon, tmp_path: Path) -> None:
    daemon = start_daemon(textfile_config(tmp_path))
    daemon.wait_ready()
    zipped_headers: dict[str, str] = {}

    def plain_and_gzip_agree() -> bool:
        nonlocal zipped_headers
        _, before = raw_get(daemon, None)
        zipped_headers, zipped = raw_get(daemon, "deflate, gzip;q=0.8")
        _, after = raw_get(daemon, None)
        return before == after == gzip.decompress(zipped)  # no collection changed it meanwhile

    wait_until(plain_and_gzip_agree, "a gzip body that decompresses to the plain one")
    assert zipped_headers["content-encoding"] == "gzip"
    assert zipped_headers["vary"] == "Accept, Accept-Encoding"
    assert zipped_headers["content-type"] == CONTENT_TYPE
    for refused in (None, "gzip;q=0", "identity", "br"):
        headers, body = raw_get(daemon, refused)
        assert "content-encoding" not in headers, refused
        assert headers["vary"] == "Accept, Accept-Encoding"
        assert headers["content-type"] == CONTENT_TYPE
        assert body.startswith(b"# HELP ")


def test_a_changed_value_a_stale_series_and_a_reload_show_at_once(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A textfile value changed, then its series removed, then the textfile collector removed by a reload
    /metrics shows the new value, then no longer the removed series, then none of the collector's.
    """
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    (textfiles / "a.prom").write_text('job_value{job="a"} 1\njob_value{job="b"} 1\n')
    daemon = start_daemon(textfile_config(textfiles), "--web.enable-lifecycle")
    daemon.wait_ready()
    wait_until(lambda: 'job_value{job="b"} 1\n' in exposed(daemon), "the textfile's series")
    (textfiles / "a.prom").write_text('job_value{job="a"} 1\njob_value{job="b"} 2\n')
    wait_until(lambda: 'job_value{job="b"} 2\n' in exposed(daemon), "the changed value")
    (textfiles / "a.prom").write_text('job_value{job="a"} 1\n')
    wait_until(lambda: 'job="b"' not in exposed(daemon), "the removed series gone")
    assert 'job_value{job="a"} 1\n' in exposed(daemon)
    next(tmp_path.glob("config-*.yaml")).write_text(textfile_config(textfiles, textfile=False))
    assert httpx.post(f"{daemon.url}/-/reload", timeout=10).status_code == 200
    text = exposed(daemon)  # at once: the reload marked the collector's series stale before answering
    assert "job_value" not in text
    assert 'collector="textfile"' not in text


# What Prometheus 2.42 sends with every scrape (scrape/scrape.go's acceptHeader).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def sample_lines(body: bytes) -> list[bytes]:
    return [line for line in body.splitlines() if not line.startswith(b"#")]


def test_openmetrics_when_the_scraper_prefers_it_with_the_same_series(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A scrape with Prometheus' Accept header gets OpenMetrics 1.0 (`# EOF` last), gzip too; the same samples.

    Only the headers differ: a counter family is named without `_total`, one without the suffix is
    `unknown` (OpenMetrics would rename its samples), and HELP escapes quotes.
    """
    (tmp_path / "jobs.prom").write_text(
        '# TYPE rows_written_total counter\nrows_written_total{table="a"} 3\n'
        "# TYPE batches counter\nbatches 2\n"
        '# HELP lag_seconds Lag "behind" the source.\n# TYPE lag_seconds gauge\nlag_seconds 1.5\n'
    )
    daemon = start_daemon(textfile_config(tmp_path))
    daemon.wait_ready()

    def same_samples() -> bool:
        _, text = raw_get(daemon, None)
        _, om = raw_get(daemon, None, PROMETHEUS_ACCEPT)
        _, again = raw_get(daemon, None)
        return text == again and sample_lines(text) == sample_lines(om)  # no collection in between

    wait_until(same_samples, "an OpenMetrics body with the text body's sample lines")
    headers, body = raw_get(daemon, None, PROMETHEUS_ACCEPT)
    zipped_headers, zipped = raw_get(daemon, "gzip", "application/openmetrics-text; version=0.0.1")
    text_headers, _ = raw_get(daemon, None, "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;q=0.4")

    assert list(openmetrics_families(body.decode()))  # the strict OpenMetrics parser takes it
    assert OPENMETRICS == headers["content-type"]
    assert body.endswith(b"\n# EOF\n")
    assert b"# TYPE rows_written counter\n" in body and b'rows_written_total{table="a"} 3\n' in body
    assert b"# TYPE batches unknown\nbatches 2\n" in body  # renamed batches_total in OpenMetrics otherwise
    assert b'# HELP lag_seconds Lag \\"behind\\" the source.\n' in body
    assert "application/openmetrics-text; version=0.0.1; charset=utf-8" == zipped_headers["content-type"]
    assert gzip.decompress(zipped).endswith(b"# EOF\n")
    assert CONTENT_TYPE == text_headers["content-type"]
