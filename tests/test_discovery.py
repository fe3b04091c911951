"""Discovery (RFC 8414 / OpenID) through the dialog's Fetch, and the RFC 9207 `iss` check.

Fetch is a plain submit button: these tests post it as a browser without JavaScript would
and read the re-rendered dialog. Metadata comes from the conformance suite's fake provider or
from the recording `upstream` server, both real local HTTP servers.
"""

import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from actions import oauth, providers
from actions.models import Action, Connection
from actions.schemas import save_action_schema
from tests.conformance.fake_provider import Behaviour, FakeProvider
from tests.schemas import with_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_networks(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True


def make_provider(request, **behaviour) -> FakeProvider:
    fake = FakeProvider(Behaviour(**behaviour))
    request.addfinalizer(fake.close)
    return fake


@pytest.fixture
def action(gpt):
    action, _ = save_action_schema(gpt=gpt, text=with_server("http://127.0.0.1:9/v1"))
    return action


def fetch(client, action, issuer, **typed):
    data = {"auth_type": "oauth", "client_id": "cid", "issuer": issuer, "discover": "1", **typed}
    return client.post(f"/gpts/{action.gpt_id}/actions/{action.id}/auth/", data)


def issuer_error(response) -> str:
    return " ".join(response.context["form"].errors.get("issuer", []))


def test_metadata_urls_follow_both_path_rules():
    assert providers.metadata_urls("https://login.example.com/tenant/v2/") == [
        "https://login.example.com/.well-known/oauth-authorization-server/tenant/v2",
        "https://login.example.com/tenant/v2/.well-known/openid-configuration",
    ]
    assert providers.metadata_urls("https://login.example.com") == [
        "https://login.example.com/.well-known/oauth-authorization-server",
        "https://login.example.com/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize("kind", ["rfc8414", "openid"])
def test_fetch_fills_the_dialog_without_saving(request, owner_client, action, kind):
    fake = make_provider(request, discovery=kind, send_iss=True)
    response = fetch(owner_client, action, fake.issuer, client_secret="typed-secret")
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.errors
    assert form.initial["authorization_url"] == fake.issuer + "/authorize"
    assert form.initial["token_url"] == fake.issuer + "/token"
    assert form.initial["revocation_url"] == fake.issuer + "/revoke"
    assert form.initial["token_exchange_method"] == "basic_auth_header"  # both offered: basic
    assert (form.initial["pkce_enabled"], form.initial["require_iss"]) == ("on", "on")
    assert form.initial["client_id"] == "cid"  # what the builder typed stays
    page = response.content.decode()
    assert "Review the fields, then Save" in page and "Enter the Client Secret again" in page
    assert "typed-secret" not in page
    action.refresh_from_db()
    assert action.auth_type == "none" and action.authorization_url == ""  # nothing saved


@pytest.mark.parametrize(
    ("methods", "chosen", "note"),
    [
        (("client_secret_post", "client_secret_basic"), "basic_auth_header", "client_secret_basic"),
        (("client_secret_post",), "default_post", "client_secret_post"),
        ((), "basic_auth_header", "client_secret_basic"),  # absent: RFC 8414 default
        (("private_key_jwt",), "basic_auth_header", "does not support"),
    ],
)
def test_the_exchange_method_follows_the_advertised_methods(
    request, owner_client, action, methods, chosen, note
):
    fake = make_provider(request, discovery="rfc8414", auth_methods=methods)
    response = fetch(owner_client, action, fake.issuer)
    assert response.context["form"].initial["token_exchange_method"] == chosen
    assert note in response.content.decode()


def test_pkce_is_turned_off_only_when_s256_is_not_offered(request, owner_client, action):
    fake = make_provider(request, discovery="openid", pkce="rejected")
    assert fetch(owner_client, action, fake.issuer).context["form"].initial["pkce_enabled"] == "off"


def test_the_saved_issuer_check_refuses_a_reply_without_or_with_another_iss(
    request, owner_client, action, owner
):
    fake = make_provider(request, discovery="rfc8414", send_iss=True)
    values = fetch(owner_client, action, fake.issuer).context["form"].initial
    data = {k: v for k, v in values.items() if v is not None}
    data.update(client_secret="s", scope="read write", save="1")
    assert (
        owner_client.post(f"/gpts/{action.gpt_id}/actions/{action.id}/auth/", data).status_code
        == 302
    )  # noqa: E501
    action.refresh_from_db()
    assert (action.issuer, action.require_iss) == (fake.issuer, True)

    for iss, words in ((None, "no iss"), ("https://evil.example", "not from")):
        start = owner_client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/")
        state = parse_qs(urlsplit(start.url).query)["state"][0]
        params = {"code": "c", "state": state, **({"iss": iss} if iss else {})}
        response = owner_client.get(f"/aip/{action.gpt_id}/oauth/callback", params)
        assert response.status_code == 400 and words in response.content.decode()
        assert "Nothing was stored" in response.content.decode()
        assert not Connection.objects.exists() and fake.grants == []  # no token request


def test_a_known_issuer_is_checked_even_without_the_promise(action):
    action.auth_type, action.issuer = Action.AuthType.OAUTH, "https://login.example.com"
    oauth.check_issuer(action, None)  # no iss, none promised: fine
    oauth.check_issuer(action, "https://login.example.com")
    with pytest.raises(oauth.IssuerMismatch):
        oauth.check_issuer(action, "https://login.example.com/")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ((200, "<html>hello</html>", "text/html"), "is not JSON"),
        ((404, "nope", "text/plain"), "answered 404 Not Found"),
        ((200, '["a"]', "application/json"), "JSON but not an object"),
        ((200, '{"issuer": "https://other.example"}', "application/json"), "must match exactly"),
        ((200, '{"issuer": "ISSUER"}', "application/json"), "no authorization_endpoint and no"),
        (
            (200, '{"issuer": "ISSUER", "authorization_endpoint": "https://evil.example/a",'
             ' "token_endpoint": "ISSUER/token"}', "application/json"),
            "authorization_endpoint: Authorization URL is on evil.example",
        ),
    ],
)  # fmt: skip
def test_discovery_problems_are_form_errors_naming_them(
    owner_client, action, upstream, answer, words
):  # noqa: E501
    issuer = upstream.url("/tenant")
    status, body, content_type = answer
    upstream.reply_with(status, body.replace("ISSUER", issuer), content_type=content_type)
    response = fetch(owner_client, action, issuer)
    assert response.status_code == 200
    assert words in issuer_error(response)
    assert {r.path for r in upstream.requests} <= {
        "/.well-known/oauth-authorization-server/tenant",
        "/tenant/.well-known/openid-configuration",
    }
    action.refresh_from_db()
    assert action.auth_type == "none"


def test_an_unreachable_issuer_and_a_blank_one(owner_client, action):
    response = fetch(owner_client, action, f"http://127.0.0.1:{closed_port()}")
    assert "Could not fetch" in issuer_error(response)
    assert "Enter the Issuer URL first" in issuer_error(fetch(owner_client, action, ""))
    assert "must not have a query" in issuer_error(fetch(owner_client, action, "https://a.com/?x"))


def test_discovery_goes_through_the_outbound_address_guard(owner_client, action, settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False
    response = fetch(owner_client, action, "https://127.0.0.1:8443/tenant")
    assert "127.0.0.1 is a loopback address" in issuer_error(response)
