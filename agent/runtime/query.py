"""`tripwired query`: ask a running daemon's /api/v1/query and print the result as promtool does."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

TIMEOUT_SECONDS = 30.0


class QueryError(Exception):
    """The daemon could not be asked, or refused the query."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def query_daemon(listen_address: str, expr: str, time: str = "", promql_compat: str = "") -> dict[str, Any]:
    """Ask a running daemon for an instant query; `promql_compat` overrides its PromQL semantics."""
    params = {
        "query": expr,
        **({"time": time} if time else {}),
        **({"promql_compat": promql_compat} if promql_compat else {}),
    }
    return api_get(f"http://{listen_address}", "/api/v1/query", params)


def instant_query(base_url: str, expr: str, at: float | None = None) -> dict[str, Any]:
    """The `data` of an instant query on tripwired's or any Prometheus' API, at `at` (Unix seconds) or now."""
    params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
    return api_get(base_url, "/api/v1/query", params)


def api_get(base_url: str, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    """The `data` of a GET on tripwired's or any Prometheus' HTTP API (`{"status": ..., "data": ...}`)."""
    url = f"{base_url.rstrip('/')}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            reason = json.load(exc).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise QueryError(f"{path} failed: {reason}", 1) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise QueryError(f"cannot reach {base_url}: {exc}", 1) from exc
    data: dict[str, Any] = body["data"]
    return data


def _labels(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def print_result(data: dict[str, Any], out: TextIO) -> None:
    """One line per series: `name{labels} => value @[time]`, like `promtool query instant`."""
    kind, result = data["resultType"], data["result"]
    if kind in ("scalar", "string"):
        out.write(f"{kind} => {result[1]} @[{result[0]}]\n")
    elif kind == "vector":
        for item in result:
            out.write(f"{_labels(item['metric'])} => {item['value'][1]} @[{item['value'][0]}]\n")
    else:
        for item in result:
            points = "\n".join(f"{v} @[{t}]" for t, v in item["values"])
            out.write(f"{_labels(item['metric'])} =>\n{points}\n")
