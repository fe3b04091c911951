"""OAuth client failure paths: states, provider refusals, refresh rules, concurrency.

The token endpoint here is the recording `upstream` server (a real local HTTP server) told
how to answer; `responses` only where a real server cannot easily fail that way.
"""

import base64
import json
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.test import Client
from django.utils import timezone

from actions import executor, oauth
from actions.models import Connection, PendingSignIn
from actions.schemas import save_action_schema
from tests.conftest import PASSWORD
from tests.schemas import with_server

pytestmark = pytest.mark.django_db

SECRET = "client-secret with spaces&symbols"


@pytest.fixture
def action(gpt, upstream, settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    action, _ = save_action_schema(gpt=gpt, text=with_server(upstream.url("/v1")))
    action.auth_type = "oauth"
    action.client_id = "client id/1"
    action.client_secret = SECRET
    action.authorization_url = upstream.url("/authorize?prompt=consent")
    action.token_url = upstream.url("/token")
    action.scope = "read write"
    action.save()
    return action


def start(client, action, user) -> str:
    client.force_login(user)
    response = client.post(
        f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/", {"next": "/connections/"}
    )
    return parse_qs(urlsplit(response.url).query)["state"][0]


def callback(client, action, **params):
    return client.get(f"/aip/{action.gpt_id}/oauth/callback", params)


def token_reply(upstream, **fields):
    body = {
        "access_token": "at-1",
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": "rt-1",
    }
    body.update(fields)
    upstream.reply_with(200, json.dumps({k: v for k, v in body.items() if v is not None}))


def test_the_authorization_url_carries_pkce_state_and_keeps_its_own_query(client, action, owner):
    client.force_login(owner)
    response = client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/")
    query = parse_qs(urlsplit(response.url).query)
    assert query["prompt"] == ["consent"] and query["client_id"] == ["client id/1"]
    assert query["scope"] == ["read write"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [action.gpt.callback_url]
    pending = PendingSignIn.objects.get()
    assert pending.state_hash != query["state"][0]  # only a hash is stored
    assert len(pending.code_verifier) >= 43


def test_it_can_turn_pkce_off(client, action, owner):
    action.pkce_enabled = False
    action.save()
    client.force_login(owner)
    response = client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/")
    assert "code_challenge" not in response.url


def test_it_exchanges_the_code_with_basic_auth_per_rfc_6749(client, action, owner, upstream):
    action.token_exchange_method = "basic_auth_header"
    action.save()
    state = start(client, action, owner)
    token_reply(upstream)
    response = callback(client, action, code="c0de", state=state)
    assert response.status_code == 302 and response.url == "/connections/"
    seen = upstream.requests[-1]
    expected = base64.b64encode(b"client+id%2F1:client-secret+with+spaces%26symbols").decode()
    # RFC 6749 2.3.1: application/x-www-form-urlencoded, then base64
    assert seen.headers["Authorization"] == f"Basic {expected}"
    body = parse_qs(seen.body.decode())
    assert body["grant_type"] == ["authorization_code"] and body["code"] == ["c0de"]
    assert "client_secret" not in body and body["code_verifier"][0]
    assert seen.headers["Accept"] == "application/json"
    assert Connection.objects.get().access_token == "at-1"


def test_it_exchanges_the_code_with_credentials_in_the_body(client, action, owner, upstream):
    state = start(client, action, owner)
    token_reply(upstream)
    callback(client, action, code="c0de", state=state)
    body = parse_qs(upstream.requests[-1].body.decode())
    assert body["client_id"] == ["client id/1"] and body["client_secret"] == [SECRET]
    assert "Authorization" not in upstream.requests[-1].headers


def test_it_accepts_a_form_encoded_token_reply(client, action, owner, upstream):
    state = start(client, action, owner)
    upstream.reply_with(
        200,
        "access_token=form-at&token_type=bearer&scope=read",
        content_type="application/x-www-form-urlencoded",
    )
    callback(client, action, code="c", state=state)
    connection = Connection.objects.get()
    assert connection.access_token == "form-at" and connection.expires_at is None
    assert connection.scope == "read"


def test_it_refuses_a_replayed_state(client, action, owner, upstream):
    state = start(client, action, owner)
    token_reply(upstream)
    callback(client, action, code="c", state=state)
    again = callback(client, action, code="c", state=state)
    assert again.status_code == 400 and b"already used" in again.content


def test_it_refuses_an_unknown_state(client, action, owner):
    client.force_login(owner)
    response = callback(client, action, code="c", state="made-up")
    assert response.status_code == 400 and not Connection.objects.exists()


def test_it_refuses_another_users_state(client, action, owner, outsider, upstream):
    action.gpt.visibility = "link"
    action.gpt.save()
    state = start(client, action, owner)
    other = Client()
    other.login(username=outsider.username, password=PASSWORD)
    response = callback(other, action, code="c", state=state)
    assert response.status_code == 400 and b"another user" in response.content
    assert upstream.requests == [] and not Connection.objects.exists()


def test_it_refuses_an_expired_state(client, action, owner, upstream):
    state = start(client, action, owner)
    PendingSignIn.objects.update(created=timezone.now() - timedelta(minutes=11))
    response = callback(client, action, code="c", state=state)
    assert response.status_code == 400 and b"expired" in response.content
    assert upstream.requests == []


def test_it_explains_access_denied_and_offers_to_try_again(client, action, owner, upstream):
    state = start(client, action, owner)
    response = callback(client, action, error="access_denied", state=state)
    page = response.content.decode()
    assert response.status_code == 400 and "You declined" in page and "Try again" in page
    assert upstream.requests == [] and not Connection.objects.exists()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, '{"error": "invalid_grant", "error_description": "Code expired"}', "invalid_grant"),
        (200, '{"error": "bad_verification_code"}', "bad_verification_code"),
        (200, '{"token_type": "bearer"}', "no access_token"),
        (200, "<html>login</html>", "no access_token"),
    ],
)
def test_it_reports_a_refusing_token_endpoint(
    client, action, owner, upstream, status, body, message
):
    state = start(client, action, owner)
    upstream.reply_with(status, body)
    response = callback(client, action, code="c", state=state)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Connection.objects.exists()


def test_it_reports_a_token_endpoint_500(client, action, owner, upstream):
    state = start(client, action, owner)
    upstream.reply_with(500, "oops")
    response = callback(client, action, code="c", state=state)
    assert response.status_code == 502 and b"try again later" in response.content
    assert not Connection.objects.exists()


@responses.activate
def test_it_reports_an_unreachable_token_endpoint(client, action, owner):
    state = start(client, action, owner)
    responses.add(responses.POST, action.token_url, body=requests.ConnectionError("refused"))
    response = callback(client, action, code="c", state=state)
    assert response.status_code == 502 and not Connection.objects.exists()


def test_it_sends_only_same_origin_next_urls(client, action, owner, upstream):
    client.force_login(owner)
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/", {"next": evil})
        assert response.status_code == 302
    assert set(PendingSignIn.objects.values_list("next_url", flat=True)) == {f"/g/{action.gpt_id}/"}


def test_it_goes_back_to_the_gpt_page_when_next_cannot_be_kept(client, action, owner, upstream):
    client.force_login(owner)
    for odd in ("/" + "a" * 2_030, "/g/x\x00y/"):  # over next_url's 2,000; a NUL
        response = client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/", {"next": odd})
        assert response.status_code == 302
    assert set(PendingSignIn.objects.values_list("next_url", flat=True)) == {f"/g/{action.gpt_id}/"}


def test_only_users_who_may_run_the_gpt_can_sign_in(client, action, outsider):
    client.force_login(outsider)
    assert client.get(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/").status_code == 404


# --- refresh -------------------------------------------------------------------------------


def connect(action, user, *, expires_in=3600, refresh_token="rt-old"):
    return Connection.objects.create(
        user=user,
        action=action,
        access_token="at-old",
        refresh_token=refresh_token,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        scope="read",
    )


def test_it_keeps_the_old_refresh_token_when_none_is_sent(action, owner, upstream):
    connect(action, owner, expires_in=10)
    token_reply(upstream, access_token="at-new", refresh_token=None)
    assert oauth.authorization_header(action, user=owner) == "Bearer at-new"
    connection = Connection.objects.get()
    assert connection.refresh_token == "rt-old"
    assert parse_qs(upstream.requests[-1].body.decode())["grant_type"] == ["refresh_token"]


def test_it_stores_a_rotated_refresh_token(action, owner, upstream):
    connect(action, owner, expires_in=10)
    token_reply(upstream, access_token="at-new", refresh_token="rt-new")
    oauth.authorization_header(action, user=owner)
    assert Connection.objects.get().refresh_token == "rt-new"


def test_it_does_not_refresh_a_token_with_time_left(action, owner, upstream):
    connect(action, owner, expires_in=300)
    assert oauth.authorization_header(action, user=owner) == "Bearer at-old"
    assert upstream.requests == []


def test_invalid_grant_puts_the_connection_back_to_needs_sign_in(action, owner, upstream):
    connect(action, owner, expires_in=0)
    upstream.reply_with(400, '{"error": "invalid_grant"}')
    with pytest.raises(executor.SignInRequired):
        oauth.authorization_header(action, user=owner)
    assert Connection.objects.get().status == "needs_sign_in"


def test_a_provider_500_on_refresh_is_temporary_and_keeps_the_connection(action, owner, upstream):
    connect(action, owner, expires_in=0)
    upstream.reply_with(503, "busy")
    with pytest.raises(executor.UpstreamFailed, match="Try again"):
        oauth.authorization_header(action, user=owner)
    connection = Connection.objects.get()
    assert (connection.status, connection.access_token, connection.refresh_token) == (
        "active",
        "at-old",
        "rt-old",
    )


@responses.activate
def test_a_token_endpoint_timeout_on_refresh_keeps_the_connection(action, owner):
    connect(action, owner, expires_in=0)
    responses.add(responses.POST, action.token_url, body=requests.Timeout("slow"))
    with pytest.raises(executor.UpstreamFailed):
        oauth.authorization_header(action, user=owner)
    assert Connection.objects.get().access_token == "at-old"


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_refresh_a_connection_once(action, owner, upstream):
    connect(action, owner, expires_in=0)

    original = upstream.reply

    class SlowReply:  # the token endpoint takes a moment, so the callers overlap
        def __getattr__(self, name):
            time.sleep(0.05)
            return getattr(original, name)

    token_reply(upstream, access_token="at-new", refresh_token="rt-new")
    original = upstream.reply
    upstream.reply = SlowReply()
    headers, errors = [], []

    def call():
        try:
            headers.append(oauth.authorization_header(action, user=owner))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert headers == ["Bearer at-new"] * 8
    token_requests = [r for r in upstream.requests if r.path == "/token"]
    assert len(token_requests) == 1


def test_changing_the_client_id_signs_everyone_out(owner_client, action, owner, outsider):
    connect(action, owner)
    connect(action, outsider)
    url = f"/gpts/{action.gpt_id}/actions/{action.id}/auth/"
    page = owner_client.get(url).content.decode()
    assert "2 users are signed in" in page
    data = {
        "auth_type": "oauth",
        "client_id": "new-client",
        "client_secret": "",
        "scope": "read write",
        "authorization_url": action.authorization_url,
        "token_url": action.token_url,
        "token_exchange_method": "default_post",
    }
    response = owner_client.post(url, data, follow=True)
    assert "Signed out 2 user(s)" in response.content.decode()
    assert not Connection.objects.exists()


def test_saving_unchanged_oauth_settings_keeps_everyone_signed_in(owner_client, action, owner):
    connect(action, owner)
    url = f"/gpts/{action.gpt_id}/actions/{action.id}/auth/"
    data = {
        "auth_type": "oauth",
        "client_id": action.client_id,
        "client_secret": "",
        "scope": action.scope,
        "authorization_url": action.authorization_url,
        "token_url": action.token_url,
        "token_exchange_method": "basic_auth_header",
    }
    assert owner_client.post(url, data).status_code == 302
    assert Connection.objects.count() == 1
