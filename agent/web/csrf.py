"""Cross-site request refusal for every endpoint that changes state.

A page on another site can make a browser send a "simple" request (a form post, or a no-CORS
fetch with a text/plain body) to this agent, with the user's cached credentials. So every
request that is not GET/HEAD/OPTIONS is refused when the browser says it comes from another
site, the way Go 1.25's http.CrossOriginProtection decides: `Sec-Fetch-Site` when the browser
sends it, else `Origin` against `Host`, else (curl, scripts, old browsers) allowed. An Origin
equal to the external URL's origin (behind a reverse proxy) is allowed.

API calls must also be `application/json` when they carry a body or a content type: a form or a
text/plain body is never an API call. The status page's forms are exempt from that (they are
forms) and carry a CSRF token of their own (agent/web/status.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from agent.web.api import error
from agent.web.server import Handler, Request, Response, text

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_VALUES = frozenset({"same-origin", "none"})  # "none": typed in the address bar, a bookmark
JSON_MEDIA_TYPE = "application/json"


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased, as browsers send it in `Origin`."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def cross_site_reason(request: Request, trusted_origins: Iterable[str] = ()) -> str | None:
    """Why the browser's own headers show this request comes from another site, or None."""
    origin = request.headers.get("origin")
    if origin is not None and origin_of(origin) in set(trusted_origins):
        return None
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in SAME_SITE_VALUES else f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
    if origin is None:
        return None
    if origin != "null" and urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower():
        return None
    return f"cross-origin request refused (Origin: {origin})"


def content_type_reason(request: Request) -> str | None:
    """Why an API call's body is not JSON, or None; a call without body or content type is fine."""
    declared = request.headers.get("content-type")
    if declared is None:
        return "a request body needs Content-Type: application/json" if request.body else None
    media_type = declared.split(";", 1)[0].strip().lower()
    return None if media_type == JSON_MEDIA_TYPE else f"unsupported Content-Type {media_type!r}: send application/json"


def guard_state_changes(
    routes: Mapping[tuple[str, str], Handler],
    *,
    trusted_origins: Iterable[str] = (),
    form_paths: frozenset[str] = frozenset(),
    read_only_paths: frozenset[str] = frozenset(),
) -> dict[tuple[str, str], Handler]:
    """Every unsafe route refuses cross-site requests (403) and, unless a form, non-JSON bodies (415).

    `read_only_paths` take POST only to carry long parameters (/api/v1/query, as Prometheus).
    """
    origins = frozenset(origin_of(o) for o in trusted_origins if origin_of(o))
    guarded: dict[tuple[str, str], Handler] = {}
    for (method, path), handler in routes.items():
        if method in SAFE_METHODS or path in read_only_paths:
            guarded[(method, path)] = handler
        else:
            guarded[(method, path)] = _guarded(handler, origins, json_only=path not in form_paths)
    return guarded


def _guarded(handler: Handler, origins: frozenset[str], *, json_only: bool) -> Handler:
    async def guarded(request: Request) -> Response:
        reason = cross_site_reason(request, origins)
        if reason is not None:
            return _refusal(request, 403, reason)
        reason = content_type_reason(request) if json_only else None
        if reason is not None:
            return _refusal(request, 415, reason)
        return await handler(request)

    return guarded


def _refusal(request: Request, status: int, reason: str) -> Response:
    if request.path.startswith("/api/"):
        return error(status, "bad_data", reason)
    return text(status, f"{reason}\n")
