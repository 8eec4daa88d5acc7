"""`tripwired silence add|list|expire`: manage a running daemon's silences over its API, as amtool does."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from agent.runtime.query import QueryError

TIMEOUT_SECONDS = 30.0


def _call(listen_address: str, method: str, query: str = "", body: dict[str, Any] | None = None) -> Any:
    url = f"http://{listen_address}/api/v1/silences{'?' + query if query else ''}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.load(response)["data"]
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc).get("error", exc.reason)
        except ValueError:
            message = exc.reason if exc.code != 404 else "this daemon has no silences (configure a route)"
        raise QueryError(f"silence request failed: {message}", 1) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise QueryError(f"cannot reach tripwired at {listen_address}: {exc}", 1) from exc


def _matcher_json(text: str) -> dict[str, Any]:
    for op, is_equal, is_regex in (("!~", False, True), ("=~", True, True), ("!=", False, False), ("=", True, False)):
        name, sep, value = text.partition(op)
        if sep:
            return {"name": name.strip(), "value": value.strip().strip('"'), "isRegex": is_regex, "isEqual": is_equal}
    raise QueryError(f"bad matcher {text!r}: use name=value, name!=value, name=~regex or name!~regex", 2)


def add(listen_address: str, matchers: list[str], duration_s: float, *, author: str, comment: str, out: TextIO) -> None:
    """Create a silence for `duration_s` seconds through the daemon's API and print its id; QueryError on failure."""
    now = datetime.now(UTC)
    body = {
        "matchers": [_matcher_json(m) for m in matchers],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(seconds=duration_s)).isoformat(),
        "createdBy": author,
        "comment": comment,
    }
    out.write(f"{_call(listen_address, 'POST', body=body)['silenceID']}\n")


def list_silences(listen_address: str, out: TextIO) -> None:
    """Print the daemon's silences as a table; QueryError on failure."""
    silences = _call(listen_address, "GET")
    out.write(f"{'ID':<36}  {'STATE':<8}  {'ENDS':<24}  {'CREATED BY':<12}  MATCHERS / COMMENT\n")
    for s in silences:
        matchers = ",".join(f'{m["name"]}{_op(m)}"{m["value"]}"' for m in s["matchers"])
        out.write(
            f"{s['id']:<36}  {s['status']['state']:<8}  {s['endsAt']:<24}  {s['createdBy']:<12}  "
            f"{{{matchers}}} {s['comment']}\n"
        )


def _op(matcher: dict[str, Any]) -> str:
    return {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}[
        (bool(matcher.get("isEqual", True)), bool(matcher["isRegex"]))
    ]


def expire(listen_address: str, ids: list[str]) -> None:
    """End the silences with these ids through the daemon's API; QueryError on the first failure."""
    for silence_id in ids:
        _call(listen_address, "DELETE", urllib.parse.urlencode({"id": silence_id}))
