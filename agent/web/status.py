"""The status page: what fired, why, and what the agent itself is doing, on one server-rendered page.

The web layer may not import the ruler, the notifier or the collectors, so the page reads a small
view model through `StatusSource`, which the runtime implements over the real objects
(agent/runtime/status_source.py). Everything works without JavaScript; status.js only adds
auto-refresh and sparklines. Every value goes through `esc` on its way into the HTML, and silence
changes need a POST carrying a CSRF token (an HMAC of its issue time under a per-process secret).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from typing import Protocol
from urllib.parse import quote, urlencode

from agent.export.exposition import format_value
from agent.model import Labels
from agent.web.csrf import cross_site_reason
from agent.web.server import Handler, Request, Response

HTML = "text/html; charset=utf-8"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_SECONDS = 12 * 3600.0
DEFAULT_SILENCE = "2h"
ALERTS_PER_PAGE = 50  # a page of 10,000 alerts stays small and fast (bench/status_page.py)
SUMMARY_NAMES = 50  # the alert names listed with their counts, most frequent first
SEVERITY_ORDER = ("critical", "page", "error", "warning", "info")
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Not no-referrer: with it Chromium posts forms with `Origin: null`, which same_origin() refuses.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
STATIC_FILES = {"status.css": "text/css; charset=utf-8", "status.js": "text/javascript; charset=utf-8"}
_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


# -- the view model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    """One pending or firing alert; `expr` is its rule's query (for the sparkline)."""

    name: str
    state: str  # "pending" or "firing"
    labels: Labels
    annotations: Labels
    value: float
    active_at: float
    expr: str = ""
    silenced_by: tuple[str, ...] = ()

    @cached_property
    def severity(self) -> str:
        return next((value for name, value in self.labels if name == "severity"), "")


@dataclass(frozen=True)
class RuleView:
    name: str
    kind: str  # "alerting" or "recording"
    state: str  # alerting: inactive, pending or firing; recording: ""
    health: str  # ok, err or unknown
    last_error: str
    last_evaluation: float | None
    evaluation_seconds: float
    query: str


@dataclass(frozen=True)
class RuleGroupView:
    name: str
    file: str
    interval_seconds: float
    last_evaluation: float | None
    evaluation_seconds: float
    rules: tuple[RuleView, ...]


@dataclass(frozen=True)
class CollectorView:
    name: str
    instance: str
    up: bool
    last_success: float | None
    last_duration: float
    last_error: str
    errors_total: int


@dataclass(frozen=True)
class OutboxEntryView:
    receiver: str
    integration: str
    group_key: str
    attempts: int
    created_at: float
    next_attempt_at: float
    reason: str


@dataclass(frozen=True)
class SilenceView:
    id: str
    matchers: tuple[str, ...]  # as written: name="value", name=~"regex", ...
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    state: str  # pending, active or expired


class StatusSource(Protocol):
    """What the status page reads and changes; the runtime implements it over the real objects."""

    def alerts(self) -> Sequence[AlertView]: ...

    def rule_groups(self) -> Sequence[RuleGroupView]: ...

    def collectors(self) -> Sequence[CollectorView]: ...

    def outbox_pending(self) -> Sequence[OutboxEntryView]: ...

    def dead_letters(self) -> Sequence[OutboxEntryView]: ...

    def silences(self) -> Sequence[SilenceView]: ...

    def add_silence(
        self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str
    ) -> str:
        """Create a silence and return its id; ValueError (with a message for people) when it is invalid."""
        ...

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now; ValueError when it is unknown or already over."""
        ...


# -- small formatting helpers ----------------------------------------------------------------------


def esc(value: object) -> str:
    """Any value as HTML text (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def format_time(seconds: float | None) -> str:
    if not seconds:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    """A span of time for people: `3d 4h`, `5m 2s`, `850ms`."""
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f}ms"
    total = int(seconds)
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "m"), (total % 60, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return " ".join(shown[:2])


def parse_duration(text: str) -> float:
    """A Prometheus duration (`2h`, `1h30m`, `1d`) in seconds; ValueError when it is not one."""
    text = text.strip()
    if not text or _DURATION.sub("", text):
        raise ValueError(f"invalid duration {text!r} (use e.g. 30m, 2h, 1d)")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(text))
    if seconds <= 0:
        raise ValueError("the duration must be positive")
    return float(seconds)


def matcher_text(name: str, value: str) -> str:
    """An equality matcher for a label, quoted as Alertmanager's matchers are."""
    quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}="{quoted}"'


# -- CSRF ------------------------------------------------------------------------------------------


class CsrfTokens:
    """Tokens that prove a form came from a page this process served: `<issued>.<hmac>`."""

    def __init__(self, secret: bytes, now: Callable[[], float], max_age: float = CSRF_MAX_AGE_SECONDS) -> None:
        self._secret = secret
        self._now = now
        self._max_age = max_age

    def issue(self) -> str:
        issued = str(int(self._now()))
        return f"{issued}.{self._sign(issued)}"

    def valid(self, token: str) -> bool:
        issued, _, signature = token.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(signature, self._sign(issued)):
            return False
        return 0 <= self._now() - int(issued) <= self._max_age

    def _sign(self, issued: str) -> str:
        return hmac.new(self._secret, issued.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """False when the browser says the form was posted from another site (the daemon-wide rule)."""
    return cross_site_reason(request) is None


# -- rendering -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageContext:
    """What every part of the page needs besides the data: the time, the form token, a notice."""

    now: float
    csrf: str
    notice: str = ""
    error: str = ""
    alertname: str = ""  # show only the alerts of this name (?alertname=)
    page: int = 1  # which ALERTS_PER_PAGE alerts to show (?page=)


def _template(name: str) -> string.Template:
    return string.Template(resources.files("agent.web").joinpath("templates", name).read_text("utf-8"))


def render_page(source: StatusSource, ctx: PageContext) -> str:
    alerts = source.alerts()
    firing = sum(1 for a in alerts if a.state == "firing")
    return _template("status.html").substitute(
        title=esc(f"tripwired: {firing} firing" if firing else "tripwired"),
        updated=esc(format_time(ctx.now)),
        updated_iso=esc(iso_time(ctx.now)),
        banner=_banner(ctx),
        alerts=render_alerts(alerts, ctx),
        silences=render_silences(source.silences(), ctx),
        rules=render_rules(source.rule_groups()),
        collectors=render_collectors(source.collectors(), ctx.now),
        outbox=render_outbox(source.outbox_pending(), source.dead_letters()),
    )


def _banner(ctx: PageContext) -> str:
    if ctx.error:
        return f'<p class="banner error" role="alert">{esc(ctx.error)}</p>'
    if ctx.notice:
        return f'<p class="banner notice" role="status">{esc(ctx.notice)}</p>'
    return ""


def _severity_rank(severity: str) -> tuple[int, str]:
    rank = SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return (rank, severity or "~")  # alerts without a severity come last


def render_alerts(alerts: Sequence[AlertView], ctx: PageContext) -> str:
    """A summary by alert name, then one page of alerts grouped by severity, with links to the others."""
    if not alerts:
        return '<p class="empty">No alerts are pending or firing.</p>'
    chosen = [a for a in alerts if a.name == ctx.alertname] if ctx.alertname else list(alerts)
    chosen.sort(key=lambda a: (_severity_rank(a.severity), a.state != "firing", a.name, a.active_at))
    pages = max(1, -(-len(chosen) // ALERTS_PER_PAGE))
    page = min(max(ctx.page, 1), pages)
    shown = chosen[(page - 1) * ALERTS_PER_PAGE : page * ALERTS_PER_PAGE]
    totals: dict[str, int] = {}
    for alert in chosen:
        totals[alert.severity] = totals.get(alert.severity, 0) + 1
    by_severity: dict[str, list[AlertView]] = {}
    for alert in shown:
        by_severity.setdefault(alert.severity, []).append(alert)
    parts = [_alert_summary(alerts, ctx), _pager(ctx, page, pages, len(chosen))]
    for severity, group in by_severity.items():
        heading = severity or "no severity"
        parts.append(
            f'<section class="severity sev-{esc(_css_word(severity))}" aria-label="{esc(heading)}">'
            f'<h3>{esc(heading)} <span class="count">{totals[severity]}</span></h3>'
            f'<ul class="alerts">{"".join(_alert_item(a, ctx) for a in group)}</ul></section>'
        )
    return "".join(parts) + (_pager(ctx, page, pages, len(chosen)) if pages > 1 else "")


def _alert_summary(alerts: Sequence[AlertView], ctx: PageContext) -> str:
    """Alert names with their firing and pending counts, each a link to its alerts alone."""
    counts: dict[str, list[int]] = {}
    for alert in alerts:
        firing_pending = counts.setdefault(alert.name, [0, 0])
        firing_pending[alert.state != "firing"] += 1
    names = sorted(counts, key=lambda n: (-sum(counts[n]), n))
    if len(names) < 2 and len(alerts) <= ALERTS_PER_PAGE and not ctx.alertname:
        return ""
    rows = "".join(
        f'<tr{" class=selected" if name == ctx.alertname else ""}><td><a href="{esc(_alerts_link(name, 1))}">'
        f"{esc(name)}</a></td><td>{counts[name][0]}</td><td>{counts[name][1]}</td></tr>"
        for name in names[:SUMMARY_NAMES]
    )
    more = len(names) - SUMMARY_NAMES
    rest = f'<p class="muted">and {more} more alert names</p>' if more > 0 else ""
    every = f'<p><a href="{esc(_alerts_link("", 1))}">Show every alert</a></p>' if ctx.alertname else ""
    return (
        f'<div class="scroll"><table class="alert-summary"><thead><tr><th>Alert</th><th>Firing</th>'
        f"<th>Pending</th></tr></thead><tbody>{rows}</tbody></table></div>{rest}{every}"
    )


def _pager(ctx: PageContext, page: int, pages: int, total: int) -> str:
    if pages == 1:
        return ""
    first = (page - 1) * ALERTS_PER_PAGE + 1
    last = min(page * ALERTS_PER_PAGE, total)
    previous = f'<a rel="prev" href="{esc(_alerts_link(ctx.alertname, page - 1))}">« previous</a>' if page > 1 else ""
    following = f'<a rel="next" href="{esc(_alerts_link(ctx.alertname, page + 1))}">next »</a>' if page < pages else ""
    return (
        f'<nav class="pager" aria-label="alert pages">{previous} <span>alerts {first} to {last} of {total}, '
        f"page {page} of {pages}</span> {following}</nav>"
    )


def _alerts_link(alertname: str, page: int) -> str:
    query = urlencode({k: v for k, v in (("alertname", alertname), ("page", str(page))) if v and v != "1"})
    return f"/?{query}#alerts" if query else "/#alerts"


def _css_word(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", text.lower()) or "none"


def _alert_item(alert: AlertView, ctx: PageContext) -> str:
    annotations = dict(alert.annotations)
    summary = annotations.pop("summary", "")
    description = annotations.pop("description", "")
    silenced = ""
    if alert.silenced_by:
        ids = ", ".join(alert.silenced_by)
        short = ", ".join(s[:8] for s in alert.silenced_by)
        silenced = f'<a class="badge silenced" href="#silences" title="{esc(ids)}">silenced by {esc(short)}</a>'

    data = json.dumps(dict(alert.labels), sort_keys=True)
    return (
        f'<li class="alert state-{esc(_css_word(alert.state))}" data-labels="{esc(data)}" data-expr="{esc(alert.expr)}"'
        f' data-active-at="{alert.active_at:.3f}" data-state="{esc(alert.state)}">'
        f'<div class="alert-head"><span class="badge state">{esc(alert.state)}</span> '
        f'<strong class="alertname">{esc(alert.name)}</strong>{silenced}</div>'
        f"{f'<p class=summary>{esc(summary)}</p>' if summary else ''}"
        f"{f'<p class=description>{esc(description)}</p>' if description else ''}"
        f'<dl class="facts"><dt>value</dt><dd class="value">{esc(format_value(alert.value))}</dd>'
        f'<dt>active since</dt><dd><time datetime="{esc(iso_time(alert.active_at))}">'
        f"{esc(format_time(alert.active_at))}</time></dd>"
        f"<dt>{'firing' if alert.state == 'firing' else 'pending'} for</dt>"
        f"<dd>{esc(format_duration(ctx.now - alert.active_at))}</dd></dl>"
        f'<div class="spark" aria-hidden="true"></div>'
        f"{_labels(alert.labels, 'labels')}{_labels(tuple(sorted(annotations.items())), 'annotations')}"
        f"{_silence_form(alert, ctx)}</li>"
    )


def _labels(labels: Labels, css: str) -> str:
    if not labels:
        return ""
    items = "".join(f'<li><span class="k">{esc(k)}</span>=<span class="v">{esc(v)}</span></li>' for k, v in labels)
    return f'<ul class="{css}">{items}</ul>'


def _silence_form(alert: AlertView, ctx: PageContext) -> str:
    matchers = "\n".join(matcher_text(k, v) for k, v in alert.labels)
    return f'<details class="silence-form"><summary>Silence…</summary>{silence_form_body(matchers, ctx)}</details>'


def silence_form_body(matchers: str, ctx: PageContext) -> str:
    """The fields of a new silence; matchers one per line."""
    return (
        f'<form method="post" action="/silences" class="silence">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(ctx.csrf)}">'
        f'<label>Matchers (one per line)<textarea name="matchers" rows="4" required>{esc(matchers)}</textarea></label>'
        f'<label>Duration<input name="duration" value="{DEFAULT_SILENCE}" required'
        f' pattern="([0-9]+(ms|[smhdwy]))+"></label>'
        f'<label>Created by<input name="created_by" required autocomplete="name"></label>'
        f'<label>Comment<input name="comment" required></label>'
        f'<button type="submit">Create silence</button></form>'
    )


def render_silences(silences: Sequence[SilenceView], ctx: PageContext) -> str:
    new = f'<details class="silence-form"><summary>New silence…</summary>{silence_form_body("", ctx)}</details>'
    if not silences:
        return f'<p class="empty">No silences.</p>{new}'
    rows = "".join(_silence_row(s, ctx) for s in silences)
    return (
        f'<div class="scroll"><table class="silences"><thead><tr><th>State</th><th>Matchers</th><th>Starts</th>'
        f"<th>Ends</th><th>Created by</th><th>Comment</th><th></th></tr></thead><tbody>{rows}</tbody>"
        f"</table></div>{new}"
    )


def _silence_row(silence: SilenceView, ctx: PageContext) -> str:
    expire = ""
    if silence.state != "expired":
        expire = (
            f'<form method="post" action="/silences/expire" class="expire">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(ctx.csrf)}">'
            f'<input type="hidden" name="id" value="{esc(silence.id)}">'
            f'<button type="submit">Expire</button></form>'
        )
    matchers = "".join(f"<code>{esc(m)}</code> " for m in silence.matchers)
    return (
        f'<tr class="silence state-{esc(_css_word(silence.state))}" id="silence-{esc(silence.id)}">'
        f'<td><span class="badge">{esc(silence.state)}</span></td><td>{matchers}</td>'
        f"<td>{esc(format_time(silence.starts_at))}</td><td>{esc(format_time(silence.ends_at))}</td>"
        f"<td>{esc(silence.created_by)}</td><td>{esc(silence.comment)}</td><td>{expire}</td></tr>"
    )


def render_rules(groups: Sequence[RuleGroupView]) -> str:
    if not groups:
        return '<p class="empty">No rule files loaded.</p>'
    return "".join(_rule_group(g) for g in groups)


def _rule_group(group: RuleGroupView) -> str:
    rows = "".join(
        f'<tr class="health-{esc(_css_word(r.health))}"><td>{esc(r.name)}<div class="query"><code>{esc(r.query)}'
        f"</code></div></td><td>{esc(r.state or r.kind)}</td><td>{esc(r.health)}</td>"
        f"<td>{esc(format_time(r.last_evaluation))}</td><td>{esc(format_duration(r.evaluation_seconds))}</td>"
        f'<td class="error-text">{esc(r.last_error)}</td></tr>'
        for r in group.rules
    )
    return (
        f'<details class="group" open><summary><strong>{esc(group.name)}</strong> <span class="muted">'
        f"{esc(group.file)} · every {esc(format_duration(group.interval_seconds))} · last "
        f"{esc(format_time(group.last_evaluation))} took {esc(format_duration(group.evaluation_seconds))}"
        f'</span></summary><div class="scroll"><table><thead><tr><th>Rule</th><th>State</th><th>Health</th>'
        f"<th>Last evaluation</th><th>Duration</th><th>Last error</th></tr></thead><tbody>{rows}</tbody>"
        f"</table></div></details>"
    )


def render_collectors(collectors: Sequence[CollectorView], now: float) -> str:
    if not collectors:
        return '<p class="empty">No collectors configured.</p>'
    rows = "".join(
        f'<tr class="{"up" if c.up else "down"}"><td>{esc(c.name)}</td><td>{esc(c.instance)}</td>'
        f'<td><span class="badge">{"up" if c.up else "down"}</span></td>'
        f"<td>{esc(format_time(c.last_success))}{_ago(c.last_success, now)}</td>"
        f"<td>{esc(format_duration(c.last_duration))}</td><td>{c.errors_total}</td>"
        f'<td class="error-text">{esc(c.last_error)}</td></tr>'
        for c in collectors
    )
    return (
        f'<div class="scroll"><table class="collectors"><thead><tr><th>Collector</th><th>Instance</th>'
        f"<th>Up</th><th>Last success</th><th>Duration</th><th>Errors</th><th>Last error</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _ago(when: float | None, now: float) -> str:
    return f' <span class="muted">({esc(format_duration(now - when))} ago)</span>' if when else ""


def render_outbox(pending: Sequence[OutboxEntryView], dead: Sequence[OutboxEntryView]) -> str:
    return (
        f'<h3>Pending <span class="count">{len(pending)}</span></h3>{_outbox_table(pending, "pending")}'
        f'<h3>Dead letters <span class="count">{len(dead)}</span></h3>{_outbox_table(dead, "dead")}'
    )


def _outbox_table(entries: Iterable[OutboxEntryView], kind: str) -> str:
    rows = "".join(
        f"<tr><td>{esc(e.receiver)}</td><td>{esc(e.integration)}</td><td><code>{esc(e.group_key)}</code></td>"
        f"<td>{e.attempts}</td><td>{esc(format_time(e.created_at))}</td>"
        f"<td>{esc(format_time(e.next_attempt_at) if kind == 'pending' else '')}</td>"
        f'<td class="error-text">{esc(e.reason)}</td></tr>'
        for e in entries
    )
    if not rows:
        return f'<p class="empty">No {"pending notifications" if kind == "pending" else "dead letters"}.</p>'
    return (
        f'<div class="scroll"><table class="outbox {kind}"><thead><tr><th>Receiver</th><th>Integration</th>'
        f"<th>Group</th><th>Attempts</th><th>Created</th><th>Next attempt</th><th>Reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


# -- the routes ------------------------------------------------------------------------------------


def html_response(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body.encode(), HTML, {**SECURITY_HEADERS, **(headers or {})})


def redirect(location: str) -> Response:
    return Response(303, b"", "text/plain; charset=utf-8", {**SECURITY_HEADERS, "location": location})


class StatusPage:
    """The handlers of the page and its forms."""

    def __init__(self, source: StatusSource, now: Callable[[], float], secret: bytes) -> None:
        self.source = source
        self.now = now
        self.tokens = CsrfTokens(secret, now)

    def render(self, status: int = 200, notice: str = "", error: str = "", request: Request | None = None) -> Response:
        ctx = PageContext(self.now(), self.tokens.issue(), notice, error)
        if request is not None:
            page = request.arg("page", "1")
            ctx = replace(ctx, alertname=request.arg("alertname"), page=int(page) if page.isdigit() else 1)
        return html_response(status, render_page(self.source, ctx))

    async def page(self, request: Request) -> Response:
        notice = ""
        known = {s.id for s in self.source.silences()}  # a crafted link shows no message of its choosing
        if request.arg("silenced") in known:
            notice = f"Silence {request.arg('silenced')} created."
        elif request.arg("expired") in known:
            notice = f"Silence {request.arg('expired')} expired."
        return self.render(notice=notice, request=request)

    def _refused(self, request: Request) -> Response | None:
        if not same_origin(request) or not self.tokens.valid(request.arg(CSRF_FIELD)):
            return self.render(403, error="The form has expired or did not come from this page; reload and retry.")
        return None

    async def add_silence(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        matchers = [line.strip() for line in request.arg("matchers").splitlines() if line.strip()]
        created_by, comment = request.arg("created_by").strip(), request.arg("comment").strip()
        try:
            if not created_by or not comment:
                raise ValueError("a silence needs a creator and a comment")
            now = self.now()
            silence_id = self.source.add_silence(
                matchers, now, now + parse_duration(request.arg("duration")), created_by, comment
            )
        except ValueError as exc:
            return self.render(400, error=f"Silence not created: {exc}")
        return redirect(f"/?silenced={quote(silence_id)}#silences")

    async def expire_silence(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        silence_id = request.arg("id")
        try:
            self.source.expire_silence(silence_id)
        except ValueError as exc:
            return self.render(400, error=f"Silence not expired: {exc}")
        return redirect(f"/?expired={quote(silence_id)}#silences")


def static_handler(name: str) -> Handler:
    body = resources.files("agent.web").joinpath("static", name).read_bytes()
    headers = {"cache-control": "max-age=300", "x-content-type-options": "nosniff"}

    async def serve(_: Request) -> Response:
        return Response(200, body, STATIC_FILES[name], headers)

    return serve


def status_routes(
    source: StatusSource, *, now: Callable[[], float], secret: bytes | None = None
) -> dict[tuple[str, str], Handler]:
    """The page at /, its silence forms and its static files, to merge into the daemon's routes."""
    page = StatusPage(source, now, secret if secret is not None else secrets.token_bytes(32))
    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/"): page.page,
        ("POST", "/silences"): page.add_silence,
        ("POST", "/silences/expire"): page.expire_silence,
    }
    for name in STATIC_FILES:
        routes[("GET", f"/static/{name}")] = static_handler(name)
    return routes
