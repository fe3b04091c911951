"""Provider quirks, one by one: token replies as providers send them, and the per-action
request options (scope separator and parameter, extra parameters, JSON token requests).

Replies are parsed from outbound.Response values (a plain dataclass, no network); requests
are checked where they land, on the recording `upstream` server. The conformance suite
(tests/conformance/) runs the same behaviours end to end.
"""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from actions import oauth
from actions.authentication import clean_authentication, grant_changes
from actions.models import Action, Connection
from actions.oauth_replies import ProviderRefused, UnreadableReply, parse_token_reply
from actions.outbound import Response
from actions.schemas import save_action_schema
from actions.validation import check_issuer, check_params, check_token_path, parse_params
from tests.schemas import with_server

pytestmark = pytest.mark.django_db


def reply(body, *, status=200, content_type="application/json") -> Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return Response(status, {"content-type": content_type}, text, False, 1, "https://x/token")


def expires_in_seconds(token_reply) -> float:
    return (token_reply.expires_at - timezone.now()).total_seconds()


# --- token replies -------------------------------------------------------------------------


def test_a_reply_the_database_cannot_store_is_refused_and_a_long_scope_is_cut():
    with pytest.raises(UnreadableReply, match="NUL"):
        parse_token_reply(reply({"access_token": "at\u0000x", "token_type": "bearer"}))
    got = parse_token_reply(reply({"access_token": "at", "scope": "s " * 2000}))
    assert len(got.scope) == 2000


def test_it_reads_a_form_encoded_reply_as_github_sends_it():
    got = parse_token_reply(
        reply("access_token=gho_1&scope=repo&token_type=bearer", content_type="text/plain")
    )
    assert (got.access_token, got.token_type, got.scope) == ("gho_1", "Bearer", "repo")
    assert got.expires_at is None and got.refresh_token == ""


@pytest.mark.parametrize("token_type", ["bearer", "Bearer", "BEARER", "", None])
def test_any_spelling_of_bearer_or_none_is_bearer(token_type):
    body = {"access_token": "a", "token_type": token_type}
    assert parse_token_reply(reply(body)).token_type == "Bearer"


@pytest.mark.parametrize(
    ("fields", "seconds"),
    [
        ({"expires_in": 3600}, 3600),
        ({"expires_in": "3600"}, 3600),
        ({"expires_in": " 7200.0 "}, 7200),
        ({"expires_in": 10**12}, 3650 * 86400),  # capped, not an overflow
        ({"expires_in": "Infinity"}, 3650 * 86400),
    ],
)
def test_expires_in_as_a_number_or_a_string(fields, seconds):
    got = parse_token_reply(reply({"access_token": "a", **fields}))
    assert abs(expires_in_seconds(got) - seconds) < 5


@pytest.mark.parametrize(
    "fields",
    [{}, {"expires_in": 0}, {"expires_in": -5}, {"expires_in": "soon"}, {"expires_in": "NaN"}],
)
def test_no_usable_expiry_means_none_refresh_on_401(fields):
    assert parse_token_reply(reply({"access_token": "a", **fields})).expires_at is None


def test_expires_at_as_epoch_seconds_milliseconds_or_iso_8601():
    moment = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    for value in (moment.timestamp(), int(moment.timestamp() * 1000), "2031-05-06T07:08:09Z"):
        got = parse_token_reply(reply({"access_token": "a", "expires_at": value}))
        assert got.expires_at == moment, value
    naive = parse_token_reply(reply({"access_token": "a", "expires_at": "2031-05-06T07:08:09"}))
    assert naive.expires_at == moment  # no zone: UTC
    assert parse_token_reply(reply({"access_token": "a", "expires_at": "never"})).expires_at is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"error": "bad_verification_code", "error_description": "The code is wrong"},
            "bad_verification_code",
        ),  # noqa: E501
        ({"ok": False, "error": "invalid_code"}, "invalid_code"),
        ({"ok": False}, "ok: false"),
    ],
)
def test_http_200_carrying_an_error_is_a_refusal(body, error):
    with pytest.raises(ProviderRefused) as info:
        parse_token_reply(reply(body))
    assert info.value.error == error and error in str(info.value)


def test_tokens_in_slacks_authed_user_envelope_not_the_bot_token():
    body = {
        "ok": True,
        "access_token": "xoxb-bot",
        "token_type": "bot",
        "authed_user": {"id": "U1", "access_token": "xoxp-user", "token_type": "user"},
    }
    assert parse_token_reply(reply(body), path="authed_user").access_token == "xoxp-user"
    assert parse_token_reply(reply(body)).access_token == "xoxb-bot"  # no path: the top


def test_an_envelope_missing_from_a_refresh_reply_falls_back_to_the_top():
    body = {
        "ok": True,
        "access_token": "xoxe.xoxp-new",
        "refresh_token": "xoxe-1",
        "expires_in": 43200,
    }  # noqa: E501
    got = parse_token_reply(reply(body), path="authed_user")
    assert (got.access_token, got.refresh_token) == ("xoxe.xoxp-new", "xoxe-1")


def test_tiktoks_data_envelope_and_its_error_code():
    ok = {"data": {"access_token": "act.1", "expires_in": 86400, "scope": ["user.info.basic"]}}
    got = parse_token_reply(reply({**ok, "message": "success"}), path="data")
    assert got.access_token == "act.1" and got.scope == "user.info.basic"
    refused = {"data": {"error_code": 10007, "description": "Code expired"}, "message": "error"}
    with pytest.raises(ProviderRefused, match="error_code 10007.*Code expired"):
        parse_token_reply(reply(refused), path="data")


def test_an_envelope_without_a_token_is_not_filled_from_the_top():
    body = {"ok": True, "access_token": "xoxb-bot", "authed_user": {"id": "U1"}}
    with pytest.raises(UnreadableReply, match="no access_token in 'authed_user'"):
        parse_token_reply(reply(body), path="authed_user")


def test_a_dotted_path_reaches_deeper():
    body = {"result": {"tokens": {"access_token": "deep"}}}
    assert parse_token_reply(reply(body), path="result.tokens").access_token == "deep"


@pytest.mark.parametrize("body", ["<html>maintenance</html>", '{"access_to', "", "\x00\x01"])
def test_a_success_without_a_token_is_unreadable_not_an_oauth_error(body):
    with pytest.raises(UnreadableReply, match="no access_token"):
        parse_token_reply(reply(body, content_type="text/html"))


def test_sender_constrained_tokens_are_refused_by_name():
    with pytest.raises(ProviderRefused, match="DPoP-bound .* only Bearer tokens"):
        parse_token_reply(reply({"access_token": "a", "token_type": "DPoP"}))


# --- request options: validation ----------------------------------------------------------

AUTH_RESERVED = {"client_id", "redirect_uri", "state", "response_type", "code_challenge", "scope"}
TOKEN_RESERVED = {"client_id", "client_secret", "grant_type", "code", "redirect_uri"}


def test_extra_parameters_as_lines_or_a_query_string_are_stored_as_lines():
    lines = check_params("access_type=offline\n prompt = consent \n\n", field="X", reserved=set())
    assert lines == "access_type=offline\nprompt=consent"
    query = check_params(
        "audience=https%3A%2F%2Fapi.example.com&resource=a+b", field="X", reserved=set()
    )  # noqa: E501
    assert parse_params(query) == [("audience", "https://api.example.com"), ("resource", "a b")]
    tricky = check_params("q=a%26b%2Bc%25", field="X", reserved=set())
    assert parse_params(tricky) == [("q", "a&b+c%")]  # survives storing and reading back


@pytest.mark.parametrize("key", sorted(AUTH_RESERVED))
def test_a_protocol_parameter_cannot_be_overridden_and_the_message_names_it(key):
    with pytest.raises(ValidationError, match=f"{key} is set by the sign-in itself"):
        check_params(f"prompt=consent\n{key}=evil", field="Extra", reserved=AUTH_RESERVED)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prompt", "'prompt' is not key=value"),
        ("prompt=a\nprompt=b", "prompt appears twice"),
        ("bad key=1", "is not a parameter name"),
        ("\n".join(f"k{i}=v" for i in range(21)), "at most 20"),
    ],
)
def test_malformed_extra_parameters_are_refused(text, message):
    with pytest.raises(ValidationError, match=message):
        check_params(text, field="Extra", reserved=set())


def test_token_path_and_issuer_checks():
    assert check_token_path("authed_user") == "authed_user"
    for bad in ("$.data[0]", ".".join(["a" * 40] * 4)):
        with pytest.raises(ValidationError, match="Token response path"):
            check_token_path(bad)
    assert check_issuer("https://login.example.com/tenant") == "https://login.example.com/tenant"
    long = "https://login.example.com/" + "a" * 2000
    for bad in (
        "https://login.example.com/?x=1",
        "https://login.example.com/#f",
        "http://a.com",
        long,
    ):
        with pytest.raises(ValidationError):
            check_issuer(bad)


# --- request options: through the dialog and into the requests ----------------------------


@pytest.fixture
def action(gpt, upstream, settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    action, _ = save_action_schema(gpt=gpt, text=with_server(upstream.url("/v1")))
    return action


def dialog(upstream, **fields) -> dict:
    return {
        "auth_type": "oauth",
        "client_id": "cid",
        "client_secret": "secret",
        "authorization_url": upstream.url("/authorize"),
        "token_url": upstream.url("/token"),
        "scope": "channels:read chat:write",
        **fields,
    }


def auth_url(action) -> str:
    return f"/gpts/{action.gpt_id}/actions/{action.id}/auth/"


def start(client, action) -> dict:
    response = client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/")
    return {k: v[0] for k, v in parse_qs(urlsplit(response.url).query).items()}


def test_the_dialog_refuses_a_protocol_key_naming_it_and_stores_nothing(
    owner_client, action, upstream
):
    data = dialog(upstream, extra_token_params="client_secret=x")
    page = owner_client.post(auth_url(action), data).content.decode()
    assert "Extra token parameters: client_secret is set by the sign-in itself" in page
    action.refresh_from_db()
    assert action.auth_type == "none" and action.extra_token_params == ""


def test_slack_style_user_scope_comma_separated_with_a_bot_scope_extra(
    owner_client, action, upstream
):
    data = dialog(
        upstream,
        scope_separator="comma",
        scope_parameter="user_scope",
        extra_authorization_params="scope=commands\nteam=T1",
    )
    assert owner_client.post(auth_url(action), data).status_code == 302
    query = start(owner_client, action)
    assert query["user_scope"] == "channels:read,chat:write"
    assert query["scope"] == "commands" and query["team"] == "T1"
    assert query["client_id"] == "cid" and query["response_type"] == "code"


def test_extra_token_parameters_and_json_bodies_reach_the_token_endpoint(
    owner_client, action, upstream, owner
):
    data = dialog(upstream, extra_token_params="resource=https://api.example.com/")
    owner_client.post(auth_url(action), {**data, "token_request_format": "json"})
    state = start(owner_client, action)["state"]
    upstream.reply_with(200, json.dumps({"access_token": "at-1", "refresh_token": "rt-1"}))
    owner_client.get(f"/aip/{action.gpt_id}/oauth/callback", {"code": "c", "state": state})
    sent = upstream.requests[-1]
    assert sent.headers["Content-Type"] == "application/json"
    body = json.loads(sent.body)
    assert body["grant_type"] == "authorization_code" and body["code"] == "c"
    assert body["resource"] == "https://api.example.com/" and body["client_secret"] == "secret"

    Connection.objects.update(expires_at=timezone.now())  # the next use refreshes
    upstream.reply_with(200, json.dumps({"access_token": "at-2"}))
    assert oauth.authorization_header(action, user=owner) == "Bearer at-2"
    body = json.loads(upstream.requests[-1].body)
    assert body["grant_type"] == "refresh_token" and body["refresh_token"] == "rt-1"
    assert body["resource"] == "https://api.example.com/"
    assert body["scope"] == "channels:read chat:write"


def test_scopes_split_on_commas_only_for_a_comma_provider(action):
    action.auth_type, action.scope = "oauth", "a b,c"
    action.scope_separator = Action.ScopeSeparator.COMMA
    assert oauth.scopes(action) == ["a", "b", "c"] and oauth.scope_text(action) == "a,b,c"
    action.scope_separator = Action.ScopeSeparator.SPACE
    assert oauth.scopes(action) == ["a", "b,c"]  # RFC 6749: a comma may be part of a scope


# --- which changes sign users out ----------------------------------------------------------


@pytest.fixture
def oauth_action(action, upstream):
    cleaned = clean_authentication(
        dialog(upstream, extra_authorization_params="prompt=consent\naudience=api-1"),
        action=action,
    )
    from actions.authentication import apply_authentication

    apply_authentication(action, cleaned)
    action.save()
    return action


@pytest.mark.parametrize(
    ("change", "signs_out"),
    [
        ({}, False),
        ({"extra_authorization_params": "prompt=select_account\naudience=api-1"}, False),
        ({"extra_token_params": "foo=bar"}, False),
        ({"token_response_path": "data"}, False),
        ({"token_request_format": "json", "pkce_enabled": "off"}, False),
        ({"extra_authorization_params": "prompt=consent\naudience=api-2"}, True),
        ({"extra_token_params": "resource=https://other.example.com"}, True),
        ({"scope_separator": "comma"}, True),
        ({"scope_parameter": "user_scope"}, True),
    ],
)
def test_only_changes_to_the_grant_sign_users_out(oauth_action, upstream, change, signs_out):
    base = dialog(upstream, extra_authorization_params="prompt=consent\naudience=api-1")
    cleaned = clean_authentication({**base, **change}, action=oauth_action)
    assert grant_changes(oauth_action, cleaned) is signs_out


def test_a_connection_without_expiry_is_not_refreshed_before_a_call(oauth_action, owner, upstream):
    Connection.objects.create(
        user=owner, action=oauth_action, access_token="at", refresh_token="rt", expires_at=None
    )
    assert oauth.authorization_header(oauth_action, user=owner) == "Bearer at"
    assert upstream.requests == [] and Connection.objects.get().refreshed is None


def test_a_user_scope_action_sends_no_scope_on_refresh(oauth_action, owner, upstream):
    oauth_action.scope_parameter = Action.ScopeParameter.USER_SCOPE
    oauth_action.save()
    Connection.objects.create(
        user=owner,
        action=oauth_action,
        access_token="at",
        refresh_token="rt",
        expires_at=timezone.now() + timedelta(seconds=5),
    )
    upstream.reply_with(200, json.dumps({"access_token": "at-2"}))
    assert oauth.authorization_header(oauth_action, user=owner) == "Bearer at-2"
    assert "scope" not in parse_qs(upstream.requests[-1].body.decode())
