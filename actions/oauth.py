"""OAuth 2.0 client for actions whose end users sign in: authorization URL, code exchange,
refresh and revoke.

oauthlib prepares the authorization URL and the token request bodies; each action adds its
provider's options (scope separator and parameter, extra parameters). Token replies are
parsed in oauth_replies.py, tolerantly, because providers differ from RFC 6749. A connection
is refreshed under a row lock, with a re-read after the lock, so concurrent calls refresh
once, across processes.
"""

import base64
import hashlib
import re
import secrets
import threading
from datetime import timedelta
from urllib.parse import parse_qsl, quote_plus, urlencode

from django.db import connection as db_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import WebApplicationClient

from actions import outbound
from actions.fields import SecretUnreadable, reveal
from actions.models import Action, Connection, PendingSignIn
from actions.oauth_replies import (
    OAuthError,
    ProviderRefused,
    TokenReply,
    UnreadableReply,
    parse_token_reply,
)
from actions.validation import check_url_scheme, parse_params

STATE_LIFETIME = timedelta(minutes=10)
REFRESH_MARGIN = timedelta(seconds=60)
_local_locks: dict[int, threading.Lock] = {}
_local_locks_guard = threading.Lock()


class BadState(OAuthError):
    """Unknown, used, expired or someone else's state: nothing is stored."""


class IssuerMismatch(BadState):
    """RFC 9207: the authorization reply names another issuer, or none when one is promised."""


class ProviderUnavailable(OAuthError):
    """The token endpoint is down, slow or answered 5xx: try again later; nothing changed."""


def _errors():
    from actions import executor  # executor imports this module lazily; no cycle at import

    return executor


def _hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def sign_in_url(action: Action) -> str:
    return reverse("sign-in", args=[action.gpt_id, action.id])


def scopes(action: Action) -> list[str]:
    """The scopes the builder listed: split on spaces, and on commas too for a comma provider."""
    if action.scope_separator == Action.ScopeSeparator.COMMA:
        return [s for s in re.split(r"[\s,]+", action.scope) if s]
    return action.scope.split()


def scope_text(action: Action) -> str:
    """The scope parameter's value, joined with the provider's separator."""
    separator = "," if action.scope_separator == Action.ScopeSeparator.COMMA else " "
    return separator.join(scopes(action))


# --- starting a sign-in --------------------------------------------------------------------


def start_sign_in(*, action: Action, user, next_url: str) -> str:
    """Record a pending sign-in and return the provider's authorization URL to redirect to."""
    state = secrets.token_urlsafe(32)  # 256 bits
    client = WebApplicationClient(action.client_id)
    extra = {}
    verifier = ""
    if action.pkce_enabled:
        verifier = client.create_code_verifier(64)
        extra = {
            "code_challenge": client.create_code_challenge(verifier, "S256"),
            "code_challenge_method": "S256",
        }
    PendingSignIn.objects.filter(created__lt=timezone.now() - STATE_LIFETIME).delete()
    PendingSignIn.objects.create(
        state_hash=_hash_state(state),
        code_verifier=verifier,
        user=user,
        action=action,
        next_url=next_url,
    )
    # oauthlib's prepare_request_uri insists on https; our own rule (validation.py) is the
    # same except loopback http for the local demo, so build with its lower-level helper.
    check_url_scheme(action.authorization_url, field="Authorization URL")
    params = [
        ("response_type", "code"),
        ("client_id", action.client_id),
        ("redirect_uri", action.gpt.callback_url),
        (action.scope_parameter or "scope", scope_text(action)),
        ("state", state),
        *extra.items(),
    ]
    params = [(k, v) for k, v in params if v]  # no empty scope
    # Validated not to override any of the above (validation.check_params).
    params += parse_params(action.extra_authorization_params)
    return add_params_to_uri(action.authorization_url, params)


def _pop_pending(*, state: str, gpt_id: str, user) -> PendingSignIn:
    """The pending sign-in for `state`, deleted so it can be used once only."""
    with transaction.atomic():
        pending = (
            PendingSignIn.objects.select_for_update()
            .select_related("action__gpt")
            .filter(state_hash=_hash_state(state or ""))
            .first()
        )
        if pending is None:
            raise BadState("This sign-in link is unknown or was already used. Start again.")
        pending.delete()
    if pending.user_id != user.pk or pending.action.gpt_id != gpt_id:
        raise BadState("This sign-in was started by another user or for another GPT.")
    if pending.created < timezone.now() - STATE_LIFETIME:
        raise BadState("This sign-in took longer than 10 minutes and expired. Start again.")
    return pending


def check_issuer(action: Action, iss: str | None) -> None:
    """RFC 9207 mix-up defence: when the provider promises `iss`, it must be there and be the
    action's issuer; any `iss` that is present must match a known issuer."""
    if iss is None and action.require_iss:
        raise IssuerMismatch(
            f"The provider's reply did not say who sent it (no iss), but {action.issuer} "
            "always does. Nothing was stored; start the sign-in again."
        )
    if iss is not None and action.issuer and iss != action.issuer:
        raise IssuerMismatch(
            f"The provider's reply came from {iss[:200]!r}, not from {action.issuer}. "
            "Nothing was stored; start the sign-in again."
        )


# --- the token endpoint --------------------------------------------------------------------


def _client_auth(action: Action, body: dict) -> dict:
    """Client credentials per the Token Exchange Method; returns outbound.request kwargs."""
    secret = reveal(action.client_secret, what="client secret")
    if action.token_exchange_method == Action.TokenExchangeMethod.BASIC_AUTH_HEADER:
        # RFC 6749 §2.3.1: form-encode id and secret before joining and base64-encoding.
        pair = f"{quote_plus(action.client_id, safe='')}:{quote_plus(secret, safe='')}"
        header = "Basic " + base64.b64encode(pair.encode()).decode()
        return {"headers": {"Authorization": header, "Accept": "application/json"}}
    body["client_id"], body["client_secret"] = action.client_id, secret
    return {"headers": {"Accept": "application/json"}}


def _token_request(action: Action, body: dict) -> TokenReply:
    """POST to the token endpoint with the action's extra token parameters and client auth."""
    for key, value in parse_params(action.extra_token_params):
        body.setdefault(key, value)  # validated never to collide with a protocol parameter
    try:
        kwargs = _client_auth(action, body)
    except SecretUnreadable as exc:
        raise ProviderUnavailable(str(exc)) from None
    if action.token_request_format == Action.TokenRequestFormat.JSON:
        content = {"json": body}  # sets Content-Type: application/json
    else:
        content = {"data": urlencode(body)}
        kwargs["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        response = outbound.request(
            "POST",
            action.token_url,
            headers=kwargs["headers"],
            sensitive_headers=("Authorization",),
            **content,
        )
    except outbound.OutboundError as exc:
        raise ProviderUnavailable(f"The token endpoint could not be reached: {exc}") from None
    if response.status >= 500:
        raise ProviderUnavailable(
            f"The token endpoint answered {response.status}; try again later."
        )
    return parse_token_reply(response, path=action.token_response_path)


def complete_sign_in(*, gpt_id: str, user, params) -> tuple[Connection, str]:
    """Exchange the callback's code for tokens and store the connection; returns it and next.
    A provider's refusal carries `try_again` (the sign-in page) so the user can retry."""
    pending = _pop_pending(state=params.get("state", ""), gpt_id=gpt_id, user=user)
    check_issuer(pending.action, params.get("iss"))
    try:
        return _exchange(pending, user=user, params=params)
    except (ProviderRefused, ProviderUnavailable) as exc:
        exc.try_again = f"{sign_in_url(pending.action)}?{urlencode({'next': pending.next_url})}"
        raise


def _exchange(pending: PendingSignIn, *, user, params) -> tuple[Connection, str]:
    if params.get("error"):
        raise ProviderRefused(
            "The provider did not grant access.",
            error=params.get("error", "")[:100],
            description=params.get("error_description", "")[:300],
        )
    code = params.get("code")
    if not code:
        raise ProviderRefused("The provider sent no authorization code.", error="no_code")
    action = pending.action
    client = WebApplicationClient(action.client_id)
    body = dict(
        parse_qsl(
            client.prepare_request_body(
                code=code, redirect_uri=action.gpt.callback_url, include_client_id=False
            )
        )
    )
    if pending.code_verifier:
        body["code_verifier"] = reveal(pending.code_verifier, what="PKCE verifier")
    reply = _token_request(action, body)
    connection, _ = Connection.objects.update_or_create(
        user=user,
        action=action,
        defaults={
            "access_token": reply.access_token,
            "refresh_token": reply.refresh_token,
            "token_type": reply.token_type,
            "expires_at": reply.expires_at,
            "scope": reply.scope or action.scope,
            "status": Connection.Status.ACTIVE,
            "refreshed": None,
        },
    )
    return connection, pending.next_url


# --- using and refreshing a connection -----------------------------------------------------


def _sign_in_required(action: Action):
    return _errors().SignInRequired(
        f"Sign in to {action.domain} to use this action.",
        domain=action.domain,
        sign_in_url=sign_in_url(action),
    )


def _needs_refresh(connection: Connection) -> bool:
    return connection.expires_at is not None and (
        connection.expires_at - timezone.now() < REFRESH_MARGIN
    )


def _refresh_guard(connection_id: int):
    """What keeps a refresh to one caller: on PostgreSQL a transaction for the row lock, which
    works across processes (the tests prove it alone); on SQLite, which has no row locks, a
    lock of this process's and no transaction, since an open SQLite transaction would block
    the provider's own write when the provider shares the database (the bundled demo)."""
    if db_connection.features.has_select_for_update:
        return transaction.atomic()
    with _local_locks_guard:
        return _local_locks.setdefault(connection_id, threading.Lock())


def refresh(connection: Connection, *, stale_token: str) -> Connection:
    """Refresh once: after taking the row lock, a token other than `stale_token` means another
    caller already refreshed, and that token is used. Raises SignInRequired or a temporary
    UpstreamFailed; on a temporary failure the stored connection stays as it was."""
    action = connection.action
    with _refresh_guard(connection.pk):
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if locked.status == Connection.Status.ACTIVE:
            if reveal(locked.access_token, what="access token") != stale_token:
                return locked  # refreshed by another call while we waited for the lock
            outcome = _refresh_locked(locked)
        else:
            outcome = "sign_in"
    # Raised outside the transaction, so a "needs sign-in" status is kept, not rolled back.
    if outcome == "sign_in":
        raise _sign_in_required(action)
    if isinstance(outcome, ProviderUnavailable):
        raise _errors().UpstreamFailed(
            f"{action.domain} could not refresh your sign-in right now ({outcome}). Try again."
        )
    return locked


def _refresh_locked(locked: Connection):
    """The token request for a locked connection: "ok", "sign_in" or a ProviderUnavailable."""
    refresh_token = reveal(locked.refresh_token, what="refresh token")
    if not refresh_token:
        locked.status = Connection.Status.NEEDS_SIGN_IN
        locked.save(update_fields=["status"])
        return "sign_in"
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    action = locked.action
    if action.scope and action.scope_parameter == Action.ScopeParameter.SCOPE:
        body["scope"] = scope_text(action)
    try:
        reply = _token_request(action, body)
    except UnreadableReply:  # a 200 that is not a token: temporary, the grant is kept
        return ProviderUnavailable("the token endpoint sent no readable token")
    except ProviderRefused:  # invalid_grant and kin: the grant is gone
        locked.status = Connection.Status.NEEDS_SIGN_IN
        locked.save(update_fields=["status"])
        return "sign_in"
    except ProviderUnavailable as exc:
        return exc
    locked.access_token = reply.access_token
    if reply.refresh_token:  # no new one: keep the old; a rotated one is saved right here
        locked.refresh_token = reply.refresh_token
    locked.token_type = reply.token_type
    locked.expires_at = reply.expires_at
    if reply.scope:
        locked.scope = reply.scope
    locked.refreshed = timezone.now()
    locked.save()
    return "ok"


def live_connection(action: Action, *, user) -> Connection:
    try:  # one row at most (unique per user and action): no join, no sort, on every call
        connection = Connection.objects.get(
            action=action, user=user, status=Connection.Status.ACTIVE
        )
    except Connection.DoesNotExist:
        raise _sign_in_required(action) from None
    connection.action = action
    if _needs_refresh(connection):
        connection = refresh(connection, stale_token=_token(connection))
    return connection


def _token(connection: Connection) -> str:
    try:
        return reveal(connection.access_token, what="access token")
    except SecretUnreadable as exc:
        raise _errors().ActionMisconfigured(str(exc)) from None


def authorization_header(action: Action, *, user) -> str:
    """`Bearer <token>` for the user's live connection to `action`, or SignInRequired."""
    return f"Bearer {_token(live_connection(action, user=user))}"


def refresh_after_401(action: Action, *, user, used_header: str) -> str:
    """The API refused the token: refresh once (unless another call already did)."""
    connection = Connection.objects.filter(action=action, user=user).first()
    if connection is None:
        raise _sign_in_required(action)
    stale = used_header.removeprefix("Bearer ")
    return f"Bearer {_token(refresh(connection, stale_token=stale))}"


# --- signing out ---------------------------------------------------------------------------


def sign_out(connection: Connection) -> bool:
    """Delete the tokens; revoke them at the provider when it has a revocation URL (RFC 7009).
    Returns whether the provider confirmed the revocation."""
    action = connection.action
    tokens = []
    for field, hint in (("refresh_token", "refresh_token"), ("access_token", "access_token")):
        try:
            value = reveal(getattr(connection, field), what=field.replace("_", " "))
        except SecretUnreadable:
            value = ""
        if value:
            tokens.append((value, hint))
    connection.delete()
    if not action.revocation_url or not tokens:
        return False
    confirmed = True
    for token, hint in tokens:
        body = {"token": token, "token_type_hint": hint}
        try:
            kwargs = _client_auth(action, body)
            response = outbound.request(
                "POST",
                action.revocation_url,
                data=urlencode(body),
                sensitive_headers=("Authorization",),
                headers={**kwargs["headers"], "Content-Type": "application/x-www-form-urlencoded"},
            )
            confirmed = confirmed and response.status == 200
        except (outbound.OutboundError, SecretUnreadable):
            confirmed = False
    return confirmed


def signed_in_count(action: Action) -> int:
    return action.connections.filter(status=Connection.Status.ACTIVE).count()
