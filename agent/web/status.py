"""The status page: what fired, why, and what the agent itself is doing, on one server-rendered page.

The web layer may not import the ruler, the notifier or the collectors, so the page reads a small
view model through `StatusSource`, which the runtime implements over the real objects
(agent/runtime/status_source.py). Everything works without JavaScript; status.js only adds
auto-refresh and sparklines. The HTML comes from Jinja2 templates (templates/) with autoescaping on,
so every value is text, never markup. Silence changes need a POST carrying a CSRF token (an HMAC of
its issue time under a per-process secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlencode

from agent.gocompat.duration import parse_duration
from agent.model import Labels
from agent.web.csrf import cross_site_reason
from agent.web.pages import (
    CSRF_FIELD,
    SECURITY_HEADERS,
    html_response,
    templates,
)
from agent.web.server import Handler, Request, Response

if TYPE_CHECKING:
    pass

CSRF_MAX_AGE_SECONDS = 12 * 3600.0
ALERTS_PER_PAGE = 50  # a page of 10,000 alerts stays small and fast (bench/status_page.py)
SUMMARY_NAMES = 50  # the alert names listed with their counts, most frequent first
SEVERITY_ORDER = ("critical", "page", "error", "warning", "info")
STATIC_FILES = {"status.css": "text/css; charset=utf-8", "status.js": "text/javascript; charset=utf-8"}


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
    inhibited_by: tuple[str, ...] = ()  # the muting alerts, as `Name{label="value"}`
    unit: str = ""  # agent.promql.units.Unit value of the rule's expression (for the value and chart)
    explain_link: str = ""  # the rule's explain view

    @property
    def muted(self) -> str:
        """Why notifications of this firing alert are held back: "silenced", "inhibited", or "" for neither."""
        if self.silenced_by:
            return "silenced"
        return "inhibited" if self.inhibited_by else ""

    @cached_property
    def severity(self) -> str:
        """The alert's `severity` label, or "" when it has none."""
        return next((value for name, value in self.labels if name == "severity"), "")


@dataclass(frozen=True)
class RuleView:
    """One rule on the status page: its kind, alert state, health and last evaluation (seconds)."""

    name: str
    kind: str  # "alerting" or "recording"
    state: str  # alerting: inactive, pending or firing; recording: ""
    health: str  # ok, err or unknown
    last_error: str
    last_evaluation: float | None
    evaluation_seconds: float
    query: str
    explain_link: str = ""  # alerting rules: why it fires or not


@dataclass(frozen=True)
class RuleGroupView:
    """One rule group on the status page (times in seconds since the epoch, durations in seconds)."""

    name: str
    file: str
    interval_seconds: float
    last_evaluation: float | None
    evaluation_seconds: float
    rules: tuple[RuleView, ...]


@dataclass(frozen=True)
class CollectorView:
    """One collector's last run on the status page (times in seconds)."""

    name: str
    instance: str
    up: bool
    last_success: float | None
    last_duration: float
    last_error: str
    errors_total: int


@dataclass(frozen=True)
class OutboxEntryView:
    """One notification waiting in the outbox or given up on (times in seconds since the epoch)."""

    receiver: str
    integration: str
    group_key: str
    attempts: int
    created_at: float
    next_attempt_at: float
    reason: str


@dataclass(frozen=True)
class SilenceView:
    """One silence on the status page (times in seconds since the epoch)."""

    id: str
    matchers: tuple[str, ...]  # as written: name="value", name=~"regex", ...
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    state: str  # pending, active or expired


@dataclass(frozen=True)
class PartView:
    """One sub-expression of a rule in the explain view, with its value now."""

    expr: str
    depth: int  # 0 for the rule's expression, 1 for its sides, ...
    unit: str
    series: int  # how many series (or 1 for a scalar)
    samples: tuple[tuple[str, str], ...]  # (labels, value with unit), highest first, at most 10
    error: str = ""


@dataclass(frozen=True)
class ExplainView:
    """Why an alerting rule fires or does not (the /explain page)."""

    name: str
    group: str
    file: str
    expr: str
    for_text: str  # the rule's `for`, empty when 0
    state: str  # firing, pending or inactive
    verdict: str  # one sentence
    reasons: tuple[str, ...]  # one per alert that is pending, silenced or inhibited
    parts: tuple[PartView, ...]
    alerts: tuple[AlertView, ...]
    health: str
    last_error: str
    last_evaluation: float | None


class StatusSource(Protocol):
    """What the status page reads and changes; the runtime implements it over the real objects."""

    def alerts(self) -> Sequence[AlertView]:
        """Every pending and firing alert."""

    def rule_groups(self) -> Sequence[RuleGroupView]:
        """Every rule group and its rules."""

    def collectors(self) -> Sequence[CollectorView]:
        """Every collector's last run."""

    def outbox_pending(self) -> Sequence[OutboxEntryView]:
        """Notifications waiting to be delivered."""

    def dead_letters(self) -> Sequence[OutboxEntryView]:
        """Notifications the outbox gave up on."""

    def silences(self) -> Sequence[SilenceView]:
        """Every silence, active, pending or expired."""

    def explain(self, group: str, rule: int) -> ExplainView | None:
        """The explain view of the alerting rule numbered `rule` (1-based) in `group`, or None."""
        ...

    def show_value(self, value: float, unit: str) -> str:
        """A value as people read it in its unit (`85.74%`, `1.5GiB`, `1h 2m 3s`)."""
        ...

    def add_silence(
        self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str
    ) -> str:
        """Create a silence and return its id; ValueError (with a message for people) when it is invalid."""
        ...

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now; ValueError when it is unknown or already over."""
        ...


# -- small formatting helpers ----------------------------------------------------------------------


def silence_seconds(text: str) -> float:
    """How long a silence from the form lasts: a Prometheus duration (`2h`, `1h30m`), which must be positive."""
    try:
        seconds = parse_duration(text.strip()) / 1000
    except ValueError as exc:
        raise ValueError(f"{exc} (use e.g. 30m, 2h, 1d)") from None
    if seconds <= 0:
        raise ValueError("the duration must be positive")
    return seconds


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
        """A new token, valid for max_age seconds."""
        issued = str(int(self._now()))
        return f"{issued}.{self._sign(issued)}"

    def valid(self, token: str) -> bool:
        """Whether `token` was issued by this process and is not older than max_age."""
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
    root: str = ""  # the route prefix every link starts with (--web.route-prefix), "" at /


@dataclass(frozen=True)
class SummaryRow:
    """One alert name in the summary above the alerts, with its counts and its link."""

    name: str
    firing: int
    pending: int
    link: str
    selected: bool


@dataclass(frozen=True)
class AlertItem:
    """One alert as the page shows it: summary and description apart from the other annotations."""

    alert: AlertView
    summary: str
    description: str
    other_annotations: Labels
    silenced_short: str
    labels_json: str
    matchers: str  # the alert's own silence form, prefilled


@dataclass(frozen=True)
class SeverityGroup:
    """The alerts of one severity on the shown page; total counts that severity on every page."""

    severity: str
    heading: str
    total: int
    items: tuple[AlertItem, ...]


@dataclass(frozen=True)
class AlertsView:
    """The alerts section: a summary by name, one page of alerts grouped by severity, a pager."""

    total: int  # every pending or firing alert, before choosing by name
    alertname: str
    summary: tuple[SummaryRow, ...]
    more_names: int
    groups: tuple[SeverityGroup, ...]
    page: int
    pages: int
    chosen: int  # the alerts of the chosen name (or all), over every page

    @property
    def first(self) -> int:
        """The number of the first alert on this page."""
        return (self.page - 1) * ALERTS_PER_PAGE + 1

    @property
    def last(self) -> int:
        """The number of the last alert on this page."""
        return min(self.page * ALERTS_PER_PAGE, self.chosen)

    @property
    def every_link(self) -> str:
        """The link back to every alert, from one name's alerts."""
        return _alerts_link("", 1)

    def link(self, page: int) -> str:
        """The link to another page of the same alerts."""
        return _alerts_link(self.alertname, page)


def render_page(source: StatusSource, ctx: PageContext) -> str:
    """The whole page for the source's current state (templates/status.html, autoescaped)."""
    alerts = source.alerts()
    firing = sum(1 for a in alerts if a.state == "firing")
    return (
        templates()
        .get_template("status.html")
        .render(
            title=f"tripwired: {firing} firing" if firing else "tripwired",
            ctx=ctx,
            alerts=alerts_view(alerts, ctx),
            silences=source.silences(),
            groups=source.rule_groups(),
            collectors=source.collectors(),
            pending=source.outbox_pending(),
            dead=source.dead_letters(),
            show_value=source.show_value,  # only the alerts on the shown page are formatted
            root=ctx.root,
        )
    )


def _severity_rank(severity: str) -> tuple[int, str]:
    rank = SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return (rank, severity or "~")  # alerts without a severity come last


def alerts_view(alerts: Sequence[AlertView], ctx: PageContext) -> AlertsView:
    """A summary by alert name, then one page of alerts grouped by severity, with links to the others."""
    chosen = [a for a in alerts if a.name == ctx.alertname] if ctx.alertname else list(alerts)
    chosen.sort(key=lambda a: (_severity_rank(a.severity), a.state != "firing", a.name, a.active_at))
    pages = max(1, -(-len(chosen) // ALERTS_PER_PAGE))
    page = min(max(ctx.page, 1), pages)
    shown = chosen[(page - 1) * ALERTS_PER_PAGE : page * ALERTS_PER_PAGE]
    totals: dict[str, int] = {}
    for alert in chosen:
        totals[alert.severity] = totals.get(alert.severity, 0) + 1
    by_severity: dict[str, list[AlertItem]] = {}
    for alert in shown:
        by_severity.setdefault(alert.severity, []).append(_alert_item(alert))
    groups = tuple(
        SeverityGroup(severity, severity or "no severity", totals[severity], tuple(items))
        for severity, items in by_severity.items()
    )
    summary, more_names = _alert_summary(alerts, ctx)
    return AlertsView(len(alerts), ctx.alertname, summary, more_names, groups, page, pages, len(chosen))


def _alert_summary(alerts: Sequence[AlertView], ctx: PageContext) -> tuple[tuple[SummaryRow, ...], int]:
    """Alert names with their firing and pending counts (each a link to its alerts alone), and how many more."""
    counts: dict[str, list[int]] = {}
    for alert in alerts:
        firing_pending = counts.setdefault(alert.name, [0, 0])
        firing_pending[alert.state != "firing"] += 1
    names = sorted(counts, key=lambda n: (-sum(counts[n]), n))
    if len(names) < 2 and len(alerts) <= ALERTS_PER_PAGE and not ctx.alertname:
        return (), 0
    rows = tuple(
        SummaryRow(name, counts[name][0], counts[name][1], _alerts_link(name, 1), name == ctx.alertname)
        for name in names[:SUMMARY_NAMES]
    )
    return rows, len(names) - SUMMARY_NAMES


def _alerts_link(alertname: str, page: int) -> str:
    query = urlencode({k: v for k, v in (("alertname", alertname), ("page", str(page))) if v and v != "1"})
    return f"/?{query}#alerts" if query else "/#alerts"


def _alert_item(alert: AlertView) -> AlertItem:
    annotations = dict(alert.annotations)
    summary = annotations.pop("summary", "")
    description = annotations.pop("description", "")
    return AlertItem(
        alert=alert,
        summary=summary,
        description=description,
        other_annotations=tuple(sorted(annotations.items())),
        silenced_short=", ".join(s[:8] for s in alert.silenced_by),
        labels_json=json.dumps(dict(alert.labels), sort_keys=True),
        matchers="\n".join(matcher_text(k, v) for k, v in alert.labels),
    )


# -- the routes ------------------------------------------------------------------------------------


def redirect(location: str) -> Response:
    """A 303 to `location` (after a form post), with the security headers."""
    return Response(303, b"", "text/plain; charset=utf-8", {**SECURITY_HEADERS, "location": location})


class StatusPage:
    """The handlers of the page and its forms."""

    def __init__(self, source: StatusSource, now: Callable[[], float], secret: bytes, root: str = "") -> None:
        self.source = source
        self.now = now
        self.tokens = CsrfTokens(secret, now)
        self.root = root

    def render(self, status: int = 200, notice: str = "", error: str = "", request: Request | None = None) -> Response:
        """The page, with a notice or error, filtered and paged as the request asks."""
        ctx = PageContext(self.now(), self.tokens.issue(), notice, error, root=self.root)
        if request is not None:
            page = request.arg("page", "1")
            ctx = replace(ctx, alertname=request.arg("alertname"), page=int(page) if page.isdigit() else 1)
        return html_response(status, render_page(self.source, ctx))

    async def page(self, request: Request) -> Response:
        """GET /: the page, with a notice when redirected after a silence was created or expired."""
        notice = ""
        known = {s.id for s in self.source.silences()}  # a crafted link shows no message of its choosing
        if request.arg("silenced") in known:
            notice = f"Silence {request.arg('silenced')} created."
        elif request.arg("expired") in known:
            notice = f"Silence {request.arg('expired')} expired."
        return self.render(notice=notice, request=request)

    async def explain(self, request: Request) -> Response:
        """The explain view of one alerting rule (404 when the group or rule is unknown)."""
        number = request.arg("rule")
        view = self.source.explain(request.arg("group"), int(number)) if number.isdigit() else None
        template = templates().get_template("explain.html")
        body = template.render(view=view, now=self.now(), show_value=self.source.show_value, root=self.root)
        return html_response(404 if view is None else 200, body)

    def _refused(self, request: Request) -> Response | None:
        if not same_origin(request) or not self.tokens.valid(request.arg(CSRF_FIELD)):
            return self.render(403, error="The form has expired or did not come from this page; reload and retry.")
        return None

    async def add_silence(self, request: Request) -> Response:
        """POST a silence from the form; the page with an error when it is refused or invalid."""
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
                matchers, now, now + silence_seconds(request.arg("duration")), created_by, comment
            )
        except ValueError as exc:
            return self.render(400, error=f"Silence not created: {exc}")
        return redirect(f"{self.root}/?silenced={quote(silence_id)}#silences")

    async def expire_silence(self, request: Request) -> Response:
        """POST to expire a silence; the page with an error when it is refused or unknown."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        silence_id = request.arg("id")
        try:
            self.source.expire_silence(silence_id)
        except ValueError as exc:
            return self.render(400, error=f"Silence not expired: {exc}")
        return redirect(f"{self.root}/?expired={quote(silence_id)}#silences")


def static_handler(name: str) -> Handler:
    """A handler that serves one of the page's static files, read once from the package."""
    body = resources.files("agent.web").joinpath("static", name).read_bytes()
    headers = {"cache-control": "max-age=300", "x-content-type-options": "nosniff"}

    async def serve(_: Request) -> Response:
        return Response(200, body, STATIC_FILES[name], headers)

    return serve


def explain_link(group: str, rule: int) -> str:
    """The explain view's address for a rule: its group's key and its 1-based number in the group."""
    return "/explain?" + urlencode({"group": group, "rule": str(rule)})


def status_routes(
    source: StatusSource, *, now: Callable[[], float], secret: bytes | None = None, root: str = ""
) -> dict[tuple[str, str], Handler]:
    """The page at /, its silence forms and its static files, to merge into the daemon's routes.

    `root` is the route prefix the server strips (--web.route-prefix): the page's links start with it.
    """
    page = StatusPage(source, now, secret if secret is not None else secrets.token_bytes(32), root)
    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/"): page.page,
        ("GET", "/explain"): page.explain,
        ("POST", "/silences"): page.add_silence,
        ("POST", "/silences/expire"): page.expire_silence,
    }
    for name in STATIC_FILES:
        routes[("GET", f"/static/{name}")] = static_handler(name)
    return routes
