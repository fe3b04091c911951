"""Provider conformance: set up → sign in → call → refresh → sign out, through the real code,
for every provider behaviour and every preset (tests/conformance/profiles.py).

The provider is a real local HTTP server (fake_provider.py). The Django test client is the
builder's and the end user's browser: the Authentication dialog (with Apply or Fetch), Sign in,
the callback, Connections. `requests` is the browser's visit to the provider's authorization
page. Everything the app itself sends (discovery, token requests, the API call, revocation)
goes over HTTP through actions.outbound. Every assertion names the profile, so a failure says
which provider behaviour broke.
"""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.utils import timezone

from actions import executor
from actions.models import Action, Connection
from actions.schemas import save_action_schema
from tests.conformance.fake_provider import CLIENT_ID, CLIENT_SECRET, SCOPES, USER, FakeProvider
from tests.conformance.profiles import ALL, Profile

pytestmark = pytest.mark.django_db

SCHEMA = """\
openapi: 3.1.0
info: {title: Provider API, version: "1"}
servers:
  - url: API_URL
paths:
  /me:
    get:
      operationId: getMe
      responses:
        "200": {description: OK}
"""


def _param(profile: Profile):
    marks = ()
    if profile.unsupported:
        reason = f"unsupported provider behaviour: {profile.unsupported}"
        marks = pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)
    return pytest.param(profile, id=profile.id, marks=marks)


@pytest.fixture
def provider(request):
    fake = FakeProvider(request.node.callspec.params["profile"].behaviour)
    yield fake
    fake.close()


def page_text(response) -> str:
    """The page's main text, tags removed."""
    html = response.content.decode()
    main = re.search(r"<main[^>]*>(.*)</main>", html, re.S)
    text = re.sub(r"<[^>]+>", " ", main.group(1) if main else html)
    return " ".join(unescape(text).split())


def dialog_errors(response) -> str:
    form = response.context and response.context.get("form")
    return str(dict(form.errors)) if form is not None else page_text(response)[:300]


def configure(client, action: Action, provider: FakeProvider, profile: Profile) -> None:
    """The builder sets the action up in the Authentication dialog, as the profile says."""
    url = f"/gpts/{action.gpt_id}/actions/{action.id}/auth/"
    typed = {"auth_type": "oauth", "client_id": CLIENT_ID, "scope": " ".join(SCOPES)}
    if profile.preset or profile.discover:
        button = {"apply_preset": "1", "preset": profile.preset}
        if profile.discover:
            button = {"discover": "1", "issuer": provider.issuer}
        page = client.post(url, {**typed, **button})
        form = page.context["form"]
        assert page.status_code == 200 and not form.errors, (
            f"{profile.id}: filling the dialog failed: {dialog_errors(page)}"
        )
        data = {name: value for name, value in form.initial.items() if value is not None}
    else:
        data = {
            **typed,
            "authorization_url": provider.url("/authorize"),
            "token_url": provider.url("/token"),
            "revocation_url": provider.url("/revoke") if profile.behaviour.revocation else "",
            **profile.settings,
        }
    if profile.preset:  # the preset's real URLs, pointed at the fake provider instead
        for name, path in (("authorization_url", "/authorize"), ("token_url", "/token")):
            query = urlsplit(data[name]).query
            data[name] = provider.url(path) + (f"?{query}" if query else "")
        data["revocation_url"] = provider.url("/revoke") if data["revocation_url"] else ""
    response = client.post(url, {**data, "client_secret": CLIENT_SECRET, "save": "1"})
    assert response.status_code == 302, f"{profile.id}: saving failed: {dialog_errors(response)}"
    action.refresh_from_db()


def authorize(client, action: Action, provider: FakeProvider) -> dict:
    """Sign in to [domain], and the provider's page: the parameters it sends the user back with."""
    start = client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/", {"next": "/c/"})
    assert start.status_code == 302 and start.url.startswith(provider.base)
    answer = requests.get(start.url, allow_redirects=False, timeout=5)
    back = urlsplit(answer.headers["Location"])
    assert back.path == f"/aip/{action.gpt_id}/oauth/callback"
    return dict(parse_qsl(back.query))


def callback(client, action: Action, params: dict):
    return client.get(f"/aip/{action.gpt_id}/oauth/callback", params)


def sign_in(client, action, provider, profile) -> Connection:
    params = authorize(client, action, provider)
    assert "code" in params, (
        f"{profile.id}: the provider refused the authorization request: "
        f"{params.get('error')}: {params.get('error_description')}"
    )
    response = callback(client, action, params)
    assert response.status_code == 302, f"{profile.id}: sign-in failed: {page_text(response)}"
    return Connection.objects.get(action=action)


def call(action: Action, user, profile: Profile):
    """Run getMe as the end user; SignInRequired passes through, other failures are asserted."""
    operation = action.operations.get(operation_id="getMe")
    try:
        return executor.invoke(operation=operation, arguments={}, user=user)
    except executor.SignInRequired:
        raise
    except executor.InvocationError as exc:
        raise AssertionError(f"{profile.id}: the call failed: {exc.code}: {exc.message}") from None


@pytest.mark.parametrize("profile", [_param(p) for p in ALL])
def test_provider_conformance(client, owner, gpt, settings, provider, profile):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    behaviour = profile.behaviour
    action, _ = save_action_schema(gpt=gpt, text=SCHEMA.replace("API_URL", provider.url("/api")))
    client.force_login(owner)
    configure(client, action, provider, profile)

    # A code the provider refuses, in its own way (400, 200 + error, ok: false): the page names
    # the provider's error and nothing is stored.
    params = {**authorize(client, action, provider), "code": "not-a-valid-code"}
    refused = callback(client, action, params)
    assert refused.status_code == 400 and behaviour.bad_code_error in page_text(refused), (
        f"{profile.id}: a refused code should show {behaviour.bad_code_error}; the page says: "
        f"{page_text(refused)[:400]}"
    )
    assert not Connection.objects.exists()
    if behaviour.send_iss:  # RFC 9207: a reply that names another issuer is refused
        mixed = callback(client, action, {**authorize(client, action, provider), "iss": "x"})
        assert mixed.status_code == 400 and "not from" in page_text(mixed), profile.id
        assert not Connection.objects.exists()

    connection = sign_in(client, action, provider, profile)
    assert connection.access_token in provider.access_tokens, f"{profile.id}: not the user token"
    if behaviour.envelope == "authed_user":  # Slack's user token says "user"
        assert connection.token_type == "user", f"{profile.id}: {connection.token_type!r}"
    elif (behaviour.token_type or "bearer").lower() == "bearer":
        assert connection.token_type == "Bearer", f"{profile.id}: {connection.token_type!r}"
    if behaviour.expiry == "absent":
        assert connection.expires_at is None, f"{profile.id}: an expiry nobody sent was stored"
    else:
        expected = timezone.now() + timedelta(seconds=behaviour.lifetime)
        assert abs((connection.expires_at - expected).total_seconds()) < 60, (
            f"{profile.id}: expiry {connection.expires_at}, expected about {expected}"
        )
    assert call(action, owner, profile).body == {"user": USER}

    if behaviour.refresh == "never":
        # No refresh token: once the API refuses the token, the user signs in again.
        provider.expire_access_tokens()
        with pytest.raises(executor.SignInRequired):
            call(action, owner, profile)
        assert Connection.objects.get().status == Connection.Status.NEEDS_SIGN_IN, profile.id
        connection = sign_in(client, action, provider, profile)
        assert call(action, owner, profile).status == 200
    else:
        first_refresh_token, refreshes = connection.refresh_token, 0
        if connection.expires_at is not None:  # about to expire: refreshed before the call
            soon = timezone.now() + timedelta(seconds=30)
            Connection.objects.filter(pk=connection.pk).update(expires_at=soon)
            assert call(action, owner, profile).status == 200
            refreshes += 1
        for _ in range(2):  # the API refuses the token: refreshed on the 401 (twice: rotation)
            provider.expire_access_tokens()
            assert call(action, owner, profile).status == 200
            refreshes += 1
        assert provider.grants.count("refresh_token") == refreshes, profile.id
        connection.refresh_from_db()
        assert connection.status == Connection.Status.ACTIVE, profile.id
        assert provider.refresh_tokens.get(connection.refresh_token) == "active", (
            f"{profile.id}: the stored refresh token is not the provider's current one"
        )
        if behaviour.refresh != "rotate":
            assert connection.refresh_token == first_refresh_token, profile.id

    tokens = (connection.access_token, connection.refresh_token)
    done = client.post(f"/connections/{connection.pk}/sign-out/", follow=True)
    assert done.status_code == 200 and not Connection.objects.exists(), profile.id
    if action.revocation_url:
        assert "the provider revoked your tokens" in page_text(done), profile.id
        assert set(tokens) - {""} <= set(provider.revoked), f"{profile.id}: tokens not revoked"
    with pytest.raises(executor.SignInRequired):
        call(action, owner, profile)
