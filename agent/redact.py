"""The one place that removes secrets from text bound for a log line, an error or an API response.

Every sender, and the SQL collector, passes its errors, reasons and log fields through `redact`:
URLs keep only their scheme and host (the path, query and user:password of a Slack webhook, a
tokenised URL or a database URL are the credential), and every configured secret value is
replaced wherever it appears.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from agent.config.types import Secret

REDACTED = "<redacted>"
_TOKEN_SEGMENT = 16  # characters from which a URL path segment is treated as a secret of its own

# scheme://[userinfo@]host[:port][/path][?query][#fragment], up to whitespace or a quote.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s@'\"<>]*@)?(?P<host>[^/\s?#'\"<>]*)"
    r"(?P<rest>[/?#][^\s'\"<>]*)?"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret value replaced and every URL cut down to scheme://host."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _URL.sub(_shorten_url, text)


def redact_excerpt(text: str, secrets: Iterable[str], limit: int) -> str:
    """`text` redacted, then cut to `limit` characters: never the other way round, or a secret cut in
    two by the limit would no longer match and its first part would be kept."""
    redacted = redact(text, secrets)
    return redacted if len(redacted) <= limit else redacted[: limit - 1] + "…"


def _shorten_url(match: re.Match[str]) -> str:
    suffix = f"/{REDACTED}" if match.group("rest") or match.group("userinfo") else ""
    return f"{match.group('scheme')}{match.group('host')}{suffix}"


def secret_values(config: object) -> list[str]:
    """Every secret in a config object and the forms it may take on the wire or in an error."""
    found: list[str] = []
    for value in _secrets_in(config):
        found.extend(secret_forms(value))
    return found


def _secrets_in(value: object) -> Iterable[str]:
    if isinstance(value, Secret):
        yield str(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _secrets_in(getattr(value, f.name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets_in(item)


def secret_forms(secret: str) -> list[str]:
    """The secret, URL-quoted, and for a URL its path, query, password and long path segments on their own."""
    forms = [secret, quote(secret, safe=""), quote(secret)]
    if "://" in secret:
        parts = urlsplit(secret)
        forms.extend(p for p in (parts.path, parts.query, parts.password or "") if len(p) > 1)
        # A long path segment is a token on its own (Slack's T…/B…/secret): a receiver may echo it alone.
        forms.extend(segment for segment in parts.path.split("/") if len(segment) >= _TOKEN_SEGMENT)
        if parts.username and parts.password:
            forms.append(base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode())
    return forms


def basic_auth_forms(username: str, password: str) -> list[str]:
    """The Authorization header value a basic-auth pair becomes, so it is redacted too."""
    return [base64.b64encode(f"{username}:{password}".encode()).decode()]
