"""OpenMetrics negotiation and conversion of the text exposition."""

from __future__ import annotations

import pytest

from agent.export.openmetrics import ExpositionFormat, negotiate, to_openmetrics


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", ExpositionFormat.TEXT),
        ("*/*", ExpositionFormat.TEXT),
        ("text/plain", ExpositionFormat.TEXT),
        ("application/openmetrics-text", ExpositionFormat.OPENMETRICS_1_0_0),
        ("application/openmetrics-text; version=0.0.1", ExpositionFormat.OPENMETRICS_0_0_1),
        ("application/openmetrics-text;version=2.0.0,text/plain;q=0.5", ExpositionFormat.TEXT),
        ("text/plain;q=0.5,application/openmetrics-text;version=1.0.0", ExpositionFormat.OPENMETRICS_1_0_0),
        ("application/openmetrics-text;q=0,text/plain;q=0.1", ExpositionFormat.TEXT),
        ("application/openmetrics-text;q=0.3,text/plain;version=0.0.4;q=0.5", ExpositionFormat.TEXT),
        ("application/json, application/openmetrics-text;q=0.2", ExpositionFormat.OPENMETRICS_1_0_0),
    ],
)
def test_the_format_is_chosen_as_promhttp_chooses_it(accept: str, expected: ExpositionFormat) -> None:
    assert expected == negotiate(accept)


def test_headers_are_rewritten_and_sample_lines_kept() -> None:
    text = (
        b'# HELP rows_total Rows "written".\n# TYPE rows_total counter\nrows_total{t="a"} 3\n'
        b"# TYPE batches counter\nbatches 2\n"
        b"# HELP free_bytes Free \\\\ space.\n# TYPE free_bytes untyped\nfree_bytes 1\n"
        b'# TYPE d_seconds histogram\nd_seconds_bucket{le="0.5"} 1\nd_seconds_bucket{le="+Inf"} 2\n'
    )

    assert (
        b'# HELP rows Rows \\"written\\".\n# TYPE rows counter\nrows_total{t="a"} 3\n'
        b"# TYPE batches unknown\nbatches 2\n"
        b"# HELP free_bytes Free \\\\ space.\n# TYPE free_bytes unknown\nfree_bytes 1\n"
        b'# TYPE d_seconds histogram\nd_seconds_bucket{le="0.5"} 1\nd_seconds_bucket{le="+Inf"} 2\n'
        b"# EOF\n"
    ) == to_openmetrics(text)


def test_an_empty_exposition_is_only_the_end_marker() -> None:
    assert b"# EOF\n" == to_openmetrics(b"")
