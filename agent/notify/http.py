"""HTTP for the senders: one client per receiver config, and the one place status codes are classified.

Alertmanager's rule (notify/util.go), plus what Slack and PagerDuty document: 2xx is delivered;
429 and 5xx are retried, honouring Retry-After; any other status is final. Timeouts and
connection errors are retried. Every reason returned has been through `redact`.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import httpx

from agent import __version__
from agent.config.receivers import HttpClientConfig
from agent.notify.model import Outcome, Result
from agent.redact import basic_auth_forms, redact, redact_excerpt, secret_values

USER_AGENT = f"tripwired/{__version__}"
_BODY_EXCERPT = 200  # characters of a failed response worth keeping in the reason


@dataclass(frozen=True, slots=True)
class Posted:
    """What one POST came to: the classified result and, if there was one, the response body."""

    result: Result
    body: str = ""
    content_type: str = ""
    status: int = 0  # the response's status code; 0 when there was no response


def new_client(config: HttpClientConfig, timeout: float | None = None) -> httpx.AsyncClient:
    """A client built from `http_config`: TLS verified by default, auth and proxy applied."""
    auth: httpx.Auth | None = None
    if config.basic_auth is not None:
        auth = httpx.BasicAuth(config.basic_auth.username, str(config.basic_auth.password or ""))
    headers = {"User-Agent": USER_AGENT}
    if config.authorization is not None and config.authorization.credentials:
        headers["Authorization"] = f"{config.authorization.type} {config.authorization.credentials}"
    elif config.bearer_token:
        headers["Authorization"] = f"Bearer {config.bearer_token}"
    return httpx.AsyncClient(
        verify=_verify(config),
        auth=auth,
        headers=headers,
        timeout=float(config.timeout) if timeout is None else timeout,
        proxy=str(config.proxy_url) if config.proxy_url else None,
        follow_redirects=config.follow_redirects,
    )


def _verify(config: HttpClientConfig) -> ssl.SSLContext | bool:
    if config.tls_config.insecure_skip_verify:
        return False
    if config.tls_config.ca_file:
        return ssl.create_default_context(cafile=config.tls_config.ca_file)
    return True


def client_secrets(config: HttpClientConfig) -> list[str]:
    """Every secret of an http_config, in the forms it takes on the wire."""
    found = secret_values(config)
    if config.basic_auth is not None and config.basic_auth.password:
        found.extend(basic_auth_forms(config.basic_auth.username, str(config.basic_auth.password)))
    return found


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    secrets: Collection[str],
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> Posted:
    """POST (or PUT) a JSON body and classify what came back; never raises for network trouble."""
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        response = await client.request(method, url, content=body, headers=all_headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:  # a config mistake: retrying cannot help
        return Posted(Result(Outcome.GIVE_UP, redact(f"invalid URL: {type(exc).__name__} {exc}", secrets)))
    except httpx.TimeoutException as exc:
        return Posted(Result(Outcome.RETRY, redact(f"timed out: {type(exc).__name__} {exc}", secrets)))
    except httpx.TransportError as exc:  # connection refused, reset, DNS, TLS
        return Posted(Result(Outcome.RETRY, redact(f"transport error: {type(exc).__name__} {exc}", secrets)))
    content_type = response.headers.get("content-type", "")
    return Posted(classify(response, secrets), response.text, content_type, response.status_code)


def classify(response: httpx.Response, secrets: Collection[str]) -> Result:
    """Delivered, retry later or give up, from the status code alone."""
    status = response.status_code
    if 200 <= status < 300:
        return Result(Outcome.DELIVERED)
    excerpt = redact_excerpt(response.text, secrets, _BODY_EXCERPT)
    reason = f"unexpected status code {status}: {excerpt}".rstrip(": ")
    if status == 429 or status >= 500:
        return Result(Outcome.RETRY, reason, retry_after(response.headers.get("retry-after")))
    return Result(Outcome.GIVE_UP, reason)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), if it says."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
