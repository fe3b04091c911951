"""OAuth end to end against the bundled provider (django-oauth-toolkit at /o/) over real HTTP.

The test client plays the end user's browser; the app's token requests and API calls go over
the network to the live server, where the provider and the demo API answer.
"""

import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from actions import executor
from actions.models import GPT, Connection, PendingSignIn

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(live_server, settings, owner):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    settings.SITE_URL = live_server.url
    call_command("load_demo", stdout=open("/dev/null", "w"))
    gpt = GPT.objects.get(name="Demo GPT")
    action = gpt.actions.get(auth_type="oauth")
    return action


def checksum(token: str) -> str:
    """How the provider finds a token: it keeps only a hash (RFC 9700 token storage)."""
    return hashlib.sha256(token.encode()).hexdigest()


def profile(action, user):
    operation = action.operations.get(operation_id="getMyProfile")
    return executor.invoke(operation=operation, arguments={}, user=user)


def sign_in(client, action, *, approve=True):
    """Sign in to the action's domain as the signed-in user; returns the callback response."""
    sign_in_url = f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/"
    page = client.get(sign_in_url)
    assert f"Sign in to {action.domain}</button>" in page.content.decode()
    start = client.post(sign_in_url, {"next": f"/g/{action.gpt_id}/"})
    authorize = urlsplit(start.url)
    params = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert params["response_type"] == "code" and params["code_challenge_method"] == "S256"
    assert params["redirect_uri"] == action.gpt.callback_url and params["scope"] == "profile"
    assert len(params["state"]) >= 43  # 256 bits, url-safe
    consent = client.get(f"{authorize.path}?{authorize.query}")
    assert consent.status_code == 200  # the provider's consent page
    form = {k: v for k, v in consent.context["form"].initial.items() if v is not None}
    if approve:
        form["allow"] = "Authorize"
    back = client.post(authorize.path, form)
    callback = urlsplit(back.url)
    assert callback.path == f"/aip/{action.gpt_id}/oauth/callback"
    return client.get(f"{callback.path}?{callback.query}")


def test_it_signs_in_calls_with_the_token_refreshes_and_signs_out(client, owner, demo):
    client.force_login(owner)
    with pytest.raises(executor.SignInRequired) as info:
        profile(demo, owner)
    assert info.value.extra["domain"] == demo.domain

    done = sign_in(client, demo)
    assert done.status_code == 302 and done.url == f"/g/{demo.gpt_id}/"
    connection = Connection.objects.get(user=owner, action=demo)
    assert connection.scope == "profile" and connection.expires_at > timezone.now()
    assert not PendingSignIn.objects.exists()  # single use

    result = profile(demo, owner)
    assert result.status == 200 and result.body["username"] == owner.username

    # Expiry within 60 s: refreshed once before the call, rotated refresh token kept.
    old_access, old_refresh = connection.access_token, connection.refresh_token
    Connection.objects.filter(pk=connection.pk).update(
        expires_at=timezone.now() + timedelta(seconds=30)
    )
    assert profile(demo, owner).status == 200
    connection.refresh_from_db()
    assert connection.access_token != old_access and connection.refreshed is not None
    assert connection.refresh_token != old_refresh  # DOT rotates; the new one is stored

    # The connections page, then sign out: tokens revoked at the provider.
    page = client.get("/connections/").content.decode()
    assert demo.domain in page and "Sign out" in page and connection.access_token not in page
    live_access = connection.access_token
    assert AccessToken.objects.filter(token_checksum=checksum(live_access)).exists()
    response = client.post(f"/connections/{connection.pk}/sign-out/", follow=True)
    assert "the provider revoked your tokens" in response.content.decode()
    assert not Connection.objects.exists()
    assert not AccessToken.objects.filter(token_checksum=checksum(live_access)).exists()
    with pytest.raises(executor.SignInRequired):
        profile(demo, owner)


def test_it_asks_to_sign_in_again_when_the_provider_revoked_the_grant(client, owner, demo):
    client.force_login(owner)
    sign_in(client, demo)
    AccessToken.objects.all().delete()
    RefreshToken.objects.all().delete()
    # The API answers 401; the refresh is refused with invalid_grant: the button again.
    with pytest.raises(executor.SignInRequired):
        profile(demo, owner)
    assert Connection.objects.get().status == Connection.Status.NEEDS_SIGN_IN
    sign_in(client, demo)
    assert profile(demo, owner).status == 200
    assert Connection.objects.get().status == Connection.Status.ACTIVE


def test_it_shows_a_friendly_page_when_the_user_declines(client, owner, demo):
    client.force_login(owner)
    response = sign_in(client, demo, approve=False)
    assert response.status_code == 400
    page = response.content.decode()
    assert "You declined at the provider" in page and "Try again" in page
    assert not Connection.objects.exists()


def test_the_gpt_page_signs_in_and_runs_what_the_user_asked_for(client, owner, demo):
    client.force_login(owner)
    page = client.get(f"/g/{demo.gpt_id}/").content.decode()
    assert f"Sign in to {demo.domain}</button>" in page
    # "Sign in to ..." on the operation: the typed arguments are kept for after the sign-in.
    response = client.post(
        f"/g/{demo.gpt_id}/run/getMyProfile/", {"action": demo.id, "sign_in": "1"}
    )
    assert response.status_code == 302
    sign_in_page = urlsplit(response.url)
    next_url = parse_qs(sign_in_page.query)["next"][0]
    assert next_url == f"/g/{demo.gpt_id}/?resume=getMyProfile#op-getMyProfile"
    start = client.post(sign_in_page.path, {"next": next_url})
    authorize = urlsplit(start.url)
    consent = client.get(f"{authorize.path}?{authorize.query}")
    form = {k: v for k, v in consent.context["form"].initial.items() if v is not None}
    back = urlsplit(client.post(authorize.path, {**form, "allow": "Authorize"}).url)
    done = client.get(f"{back.path}?{back.query}")
    assert done.url == next_url
    page = client.get(done.url).content.decode()
    assert (
        f"&quot;username&quot;: &quot;{owner.username}&quot;" in page
        or f'"username": "{owner.username}"' in page
    )
    assert "Sign in to" not in page.split('id="op-getMyProfile"')[1].split("</article>")[0]


def test_an_agent_gets_a_token_from_o_and_invokes_for_the_end_user(client, owner, demo):
    """The agent path of the demo: authorization code + PKCE at /o/, then the agent API."""
    from oauth2_provider.models import Application

    from actions.management.commands import agent_token

    app = Application.objects.get(name=agent_token.DEMO_AGENT_APP)
    verifier, challenge = agent_token.pkce_pair()
    url = urlsplit(agent_token.authorize_url(app.client_id, state="s1", challenge=challenge))
    client.force_login(owner)
    consent = client.get(f"{url.path}?{url.query}")
    form = {k: v for k, v in consent.context["form"].initial.items() if v is not None}
    redirect = urlsplit(client.post(url.path, {**form, "allow": "Authorize"}).url)
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == agent_token.REDIRECT_URI
    code = parse_qs(redirect.query)["code"][0]
    token = agent_token.exchange(app.client_id, code=code, verifier=verifier)["access_token"]

    agent = type(client)()  # no session: the token alone
    headers = {"Authorization": f"Bearer {token}"}
    tools = agent.get(f"/api/v1/gpts/{demo.gpt_id}/tools", headers=headers).json()["tools"]
    assert "getForecast" in [t["function"]["name"] for t in tools]
    response = agent.post(
        f"/api/v1/gpts/{demo.gpt_id}/invoke",
        {"operation": "getForecast", "arguments": {"city": "Lima"}},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 200 and response.json()["body"]["city"] == "Lima"
    signin = agent.post(
        f"/api/v1/gpts/{demo.gpt_id}/invoke",
        {"operation": "getMyProfile", "arguments": {}},
        content_type="application/json",
        headers=headers,
    )
    assert signin.status_code == 401 and signin.json()["error"] == "sign_in_required"
    assert signin.json()["sign_in_url"].startswith("http://")


def test_expire_connections_forces_a_refresh_on_the_next_call(client, owner, demo):
    client.force_login(owner)
    sign_in(client, demo)
    before = Connection.objects.get().access_token
    call_command("expire_connections", user=owner.username, stdout=open("/dev/null", "w"))
    assert profile(demo, owner).status == 200
    assert Connection.objects.get().access_token != before
