"""What the agent's HTML pages (the status page, /explain, /graph) share: the Jinja2 environment
with its filters, and the HTML answer with the pages' security headers."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agent.export.exposition import format_value
from agent.web.server import Response

if TYPE_CHECKING:
    import jinja2

HTML = "text/html; charset=utf-8"
CSRF_FIELD = "csrf_token"
DEFAULT_SILENCE = "2h"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Not no-referrer: with it Chromium posts forms with `Origin: null`, which same_origin() refuses.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def format_time(seconds: float | None) -> str:
    """A time for people (UTC, to the second), or "never" for none."""
    if not seconds:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso_time(seconds: float) -> str:
    """A time in RFC 3339 (UTC, to the second)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    """A span of time for people: `3d 4h`, `5m 2s`, `850ms`."""
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f}ms"
    total = int(seconds)
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "m"), (total % 60, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return " ".join(shown[:2])


@functools.cache
def templates() -> jinja2.Environment:
    """The pages' Jinja2 environment, made (and Jinja2 imported) at the first page asked for.

    A daemon nobody opens a page of never loads Jinja2 (about 4 MB of a small daemon's memory).
    """
    import jinja2  # here, not at the top: on first use, see above

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("agent.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        format_time=format_time,
        iso_time=iso_time,
        format_duration=format_duration,
        format_value=format_value,
        css_word=lambda text: css_word(str(text)),
    )
    env.globals.update(csrf_field=CSRF_FIELD, default_silence=DEFAULT_SILENCE)
    return env


def css_word(text: str) -> str:
    """A value as a CSS class word: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]", "", text.lower()) or "none"


def html_response(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    """An HTML answer with the page's security headers."""
    return Response(status, body.encode(), HTML, {**SECURITY_HEADERS, **(headers or {})})
