"""Token endpoint replies as providers really send them, turned into a TokenReply.

RFC 6749 §5.1 says JSON with `access_token`, `token_type` and optionally `expires_in`,
`refresh_token` and `scope`. Providers differ: form-encoded replies (GitHub without an Accept
header), `token_type` in any case or absent, `expires_in` as a string or replaced by
`expires_at`, HTTP 200 carrying an `error` (or Slack's `"ok": false`), and tokens nested in an
envelope (Slack's `authed_user`, TikTok's `data`) that the action names in its
`token_response_path`. Split from oauth.py, which sends the requests.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from django.utils import timezone

from actions import outbound

MAX_LIFETIME = timedelta(days=3650)  # a larger expires_in is nonsense, not a reason to crash
# Sender-constrained token types: using them as Bearer tokens cannot work, so say so.
UNSUPPORTED_TOKEN_TYPES = {
    "dpop": "DPoP-bound (RFC 9449)",
    "mac": "MAC",
    "pop": "proof-of-possession",
}


class OAuthError(Exception):
    """A sign-in or token problem; str() is safe to show (never a token or secret)."""


class ProviderRefused(OAuthError):
    def __init__(self, message: str, *, error: str = "", description: str = ""):
        super().__init__(message)
        self.error, self.description = error, description


class UnreadableReply(ProviderRefused):
    """A success status but no token and no OAuth error (a maintenance page, cut-off JSON):
    at sign-in the user sees why; on refresh it is temporary, the grant may well be fine."""


@dataclass
class TokenReply:
    access_token: str
    refresh_token: str  # "" when the reply has none (keep the one stored)
    token_type: str  # "Bearer" for any spelling of bearer, and when absent
    expires_at: datetime | None  # None: no expiry given, refresh only on a 401
    scope: str


def reply_fields(response: outbound.Response) -> dict:
    """The reply's fields, from JSON or a form-encoded body; {} when it is neither."""
    content_type = response.headers.get("content-type", "")
    data = None
    if "json" in content_type or response.text.lstrip()[:1] == "{":
        try:
            data = response.json()
        except ValueError:  # not plain JSON (absurd nesting included)
            data = None
    if data is None and "=" in response.text:
        data = dict(parse_qsl(response.text.strip()))
    return data if isinstance(data, dict) else {}


def _error_code(fields: dict) -> str:
    """The error a reply carries at this level, or "": `error`, Slack's `ok: false`, or a
    non-zero `error_code` (TikTok's envelope)."""
    if fields.get("error"):
        return str(fields["error"])[:100]
    if fields.get("ok") is False:
        return "ok: false"
    code = fields.get("error_code")
    if code not in (None, "", 0, "0"):
        return f"error_code {str(code)[:40]}"
    return ""


def _refuse(error: str, fields: dict) -> ProviderRefused:
    description = str(fields.get("error_description") or fields.get("description") or "")[:300]
    detail = f": {description}" if description else ""
    return ProviderRefused(
        f"The provider refused ({error}){detail}", error=error, description=description
    )


def _envelope(fields: dict, path: str) -> dict:
    """The mapping at `path` ("authed_user", "data", "a.b"), or the top level when absent:
    refresh replies often carry the tokens at the top even where sign-in nests them."""
    node = fields
    for key in path.split(".") if path else ():
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) and node else fields


def _number(value) -> float | None:
    """A JSON number or a numeric string as a float; NaN and anything else: None."""
    if isinstance(value, bool):
        return None
    number = None
    if isinstance(value, int | float):
        number = float(value) if not isinstance(value, int) or abs(value) < 1e300 else math.inf
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    return None if number is None or math.isnan(number) else number


def _expires_at(fields: dict) -> datetime | None:
    """From `expires_in` (a number or a string, capped at MAX_LIFETIME) or `expires_at` (epoch
    seconds or ms, or an ISO 8601 time). Absent, zero, negative or unreadable: None."""
    seconds = _number(fields.get("expires_in"))
    if seconds is not None:
        if seconds <= 0:
            return None
        return timezone.now() + timedelta(seconds=min(seconds, MAX_LIFETIME.total_seconds()))
    raw = fields.get("expires_at")
    epoch = _number(raw)
    try:
        if epoch is not None and epoch > 0:
            return datetime.fromtimestamp(epoch / 1000 if epoch > 1e11 else epoch, tz=UTC)
        if isinstance(raw, str) and raw.strip():
            moment = datetime.fromisoformat(raw.strip())
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (OverflowError, OSError, ValueError):
        pass
    return None


def _token_type(fields: dict) -> str:
    token_type = str(fields.get("token_type") or "").strip()
    if not token_type or token_type.lower() == "bearer":
        return "Bearer"
    if token_type.lower() in UNSUPPORTED_TOKEN_TYPES:
        kind = UNSUPPORTED_TOKEN_TYPES[token_type.lower()]
        raise ProviderRefused(
            f"The provider issued a {kind} token; only Bearer tokens are supported.",
            error="unsupported_token_type",
        )
    return token_type[:40]  # e.g. Slack's "user": still sent as a Bearer token


def parse_token_reply(response: outbound.Response, *, path: str = "") -> TokenReply:
    """A token endpoint reply; ProviderRefused when it is an error or carries no token.
    `path` names the envelope the tokens sit in (the action's token_response_path)."""
    fields = reply_fields(response)
    error = _error_code(fields)
    if error or response.status >= 400:
        raise _refuse(error or f"HTTP {response.status}", fields)
    tokens = _envelope(fields, path)
    error = _error_code(tokens)
    if error:
        raise _refuse(error, tokens)
    if not tokens.get("access_token") or isinstance(tokens["access_token"], dict | list):
        # An envelope without a token is not filled from the top: for Slack that would be the
        # bot's token used as the user's.
        where = ""
        if path:
            where = f" in {path!r}" if tokens is not fields else f" ({path!r} is absent)"
        reason = f"the reply has no access_token{where}"
        raise UnreadableReply(f"The provider refused ({reason})")
    scope = tokens.get("scope") or ""
    reply = TokenReply(
        access_token=str(tokens["access_token"]),
        refresh_token=str(tokens.get("refresh_token") or ""),
        token_type=_token_type(tokens),
        expires_at=_expires_at(tokens),
        scope=(" ".join(map(str, scope)) if isinstance(scope, list) else str(scope))[:2000],
    )
    if "\x00" in reply.access_token + reply.refresh_token + reply.token_type + reply.scope:
        # A database cannot store it (PostgreSQL refuses NUL); no real token holds one.
        raise UnreadableReply("The provider refused (the reply holds a NUL character)")
    return reply
