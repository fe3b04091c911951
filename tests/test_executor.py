"""The executor against a real local server: what reaches the API, and what never does."""

import json

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from encrypted_model_fields import fields as encrypted

from actions import executor
from actions.models import Action, CallRecord
from actions.schemas import save_action_schema

pytestmark = pytest.mark.django_db

API_KEY = "planted-executor-api-key"

SCHEMA = """\
openapi: 3.1.0
info: {title: Items, version: "1"}
servers: [{url: "SERVER"}]
paths:
  /items/{item_id}:
    get:
      operationId: getItem
      parameters:
        - {name: item_id, in: path, required: true, schema: {type: string}}
        - {name: tags, in: query, schema: {type: array, items: {type: string}}}
        - {name: limit, in: query, schema: {type: integer}}
        - {name: X-Trace, in: header, schema: {type: string}}
      responses: {"200": {description: OK}}
  /items:
    post:
      operationId: createItem
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties: {name: {type: string}}
      responses: {"201": {description: Created}}
"""


@pytest.fixture
def local(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def action(gpt, upstream, local):
    action, _ = save_action_schema(gpt=gpt, text=SCHEMA.replace("SERVER", upstream.url("/v1")))
    return action


def op(action, name):
    return action.operations.get(operation_id=name)


def use_key(action, kind, header=""):
    action.auth_type, action.api_key = "api_key", API_KEY
    action.api_key_auth_type, action.custom_header_name = kind, header
    action.save()


def run(action, name, arguments, user, **kwargs):
    return executor.invoke(operation=op(action, name), arguments=arguments, user=user, **kwargs)


def test_it_sends_path_query_and_header_parameters(action, upstream, owner):
    upstream.reply_with(200, '{"id": "a/b"}')
    result = run(
        action,
        "getItem",
        {"item_id": "a/b?c", "tags": ["x", "y"], "limit": 5, "X-Trace": "t1"},
        owner,
    )
    seen = upstream.requests[-1]
    assert seen.method == "GET"
    assert seen.path == "/v1/items/a%2Fb%3Fc?tags=x&tags=y&limit=5"
    assert seen.headers["X-Trace"] == "t1"
    assert "Authorization" not in seen.headers
    assert (result.status, result.body) == (200, {"id": "a/b"})


@pytest.mark.parametrize(
    ("kind", "header", "expected_name", "expected_value"),
    [
        ("basic", "", "Authorization", f"Basic {API_KEY}"),
        ("bearer", "", "Authorization", f"Bearer {API_KEY}"),
        ("custom", "X-Api-Key", "X-Api-Key", API_KEY),
    ],
)
def test_it_adds_the_api_key_as_configured(
    action, upstream, owner, kind, header, expected_name, expected_value
):
    use_key(action, kind, header)
    run(action, "getItem", {"item_id": "1"}, owner)
    assert upstream.requests[-1].headers[expected_name] == expected_value


def test_it_sends_the_json_body_after_confirmation(action, upstream, owner):
    upstream.reply_with(201, '{"ok": true}')
    with pytest.raises(executor.ConfirmationRequired) as info:
        run(action, "createItem", {"body": {"name": "pen"}}, owner)
    assert info.value.extra["always_allow_offered"] is True
    assert upstream.requests == []
    result = run(action, "createItem", {"body": {"name": "pen"}}, owner, confirmed=True)
    assert result.status == 201 and upstream.requests[-1].body == b'{"name": "pen"}'


def test_it_remembers_always_allow(action, upstream, owner, outsider):
    run(action, "createItem", {"body": {"name": "a"}}, owner, confirmed=True, always_allow=True)
    run(action, "createItem", {"body": {"name": "b"}}, owner)
    assert len(upstream.requests) == 2
    with pytest.raises(executor.ConfirmationRequired):  # remembered per user
        run(action, "createItem", {"body": {"name": "c"}}, outsider)


def test_it_keeps_always_allow_when_the_schema_is_saved_again(action, upstream, owner):
    run(action, "createItem", {"body": {"name": "a"}}, owner, confirmed=True, always_allow=True)
    save_action_schema(gpt=action.gpt, text=action.schema_text, action=action)
    run(action, "createItem", {"body": {"name": "b"}}, owner)
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "missing required argument 'item_id'"),
        ({"item_id": "1", "limit": "many"}, "argument 'limit'"),
        ({"item_id": "1", "colour": "red"}, "unknown argument 'colour'"),
        ({"item_id": "1", "X-Trace": "a\r\nHost: evil"}, "line break"),
        ({"item_id": "1", "X-Trace": " t1"}, "argument 'X-Trace': a header value cannot start"),
        ({"item_id": "1", "X-Trace": "t\x001"}, "argument 'X-Trace': .* control characters"),
        ({"item_id": "1", "X-Trace": "Oslo 😀"}, "argument 'X-Trace': .* beyond Latin-1"),
        ({"item_id": "1", "tags": [float("inf")]}, "argument 'tags': an infinite number"),
        ({"item_id": "\ud800"}, "argument 'item_id': the text contains a lone surrogate"),
        ({"item_id": "1", "tags": json.loads("[" * 101 + "]" * 101)}, "argument 'tags': .* 100"),
        ([], "arguments must be a JSON object"),
    ],
)
def test_it_refuses_bad_arguments_before_sending(action, upstream, owner, arguments, message):
    with pytest.raises(executor.InvalidArguments, match=message):
        run(action, "getItem", arguments, owner)
    assert upstream.requests == []


def test_it_reports_an_upstream_5xx(action, upstream, owner):
    upstream.reply_with(503, '{"error": "busy"}')
    with pytest.raises(executor.UpstreamFailed) as info:
        run(action, "getItem", {"item_id": "1"}, owner)
    assert info.value.http_status == 502 and info.value.extra["status"] == 503


def test_it_refuses_private_addresses_unless_allowed(action, upstream, owner, settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False
    use_key(action, "bearer")
    with pytest.raises(executor.AddressRefused):
        run(action, "getItem", {"item_id": "1"}, owner)
    assert upstream.requests == []


def test_it_records_each_run_without_secrets_or_bodies(action, upstream, owner):
    use_key(action, "bearer")
    upstream.reply_with(200, '{"secret_body": "do-not-store"}')
    run(action, "getItem", {"item_id": "1"}, owner, client="Agent X")
    with pytest.raises(executor.InvalidArguments):
        run(action, "getItem", {}, owner)
    first, second = CallRecord.objects.order_by("id")
    assert (first.outcome, first.upstream_status, first.client) == ("ok", 200, "Agent X")
    assert second.outcome == "invalid_arguments" and second.upstream_status is None
    for record in CallRecord.objects.values():
        text = repr(record)
        assert API_KEY not in text and "do-not-store" not in text


def test_it_says_when_the_key_cannot_be_decrypted(action, upstream, owner, monkeypatch):
    use_key(action, "bearer")
    monkeypatch.setattr(encrypted, "CRYPTER", MultiFernet([Fernet(Fernet.generate_key())]))
    fresh = Action.objects.get(pk=action.pk)
    with pytest.raises(executor.ActionMisconfigured, match="cannot be decrypted"):
        run(fresh, "getItem", {"item_id": "1"}, owner)
    assert upstream.requests == []


def test_it_asks_to_sign_in_for_an_oauth_action_without_connection(action, upstream, owner):
    action.auth_type = "oauth"
    action.save()
    with pytest.raises(executor.SignInRequired) as info:
        run(action, "getItem", {"item_id": "1"}, owner)
    assert info.value.extra["domain"] == "127.0.0.1"
    assert upstream.requests == []


def test_the_tool_definition_describes_parameters_and_body(action):
    tool = executor.tool_definition(op(action, "createItem"))
    assert tool["type"] == "function" and tool["function"]["name"] == "createItem"
    assert tool["function"]["parameters"]["required"] == ["body"]
    assert tool["function"]["parameters"]["properties"]["body"]["required"] == ["name"]


@pytest.mark.django_db(transaction=True)
def test_the_demo_gpt_runs_both_demo_actions(live_server, settings, owner):
    """make run's demo: the public action without credentials, the vault one with its key."""
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    settings.SITE_URL = live_server.url
    call_command("load_demo", stdout=open("/dev/null", "w"))
    from actions.models import GPT

    gpt = GPT.objects.get(name="Demo GPT")
    public = gpt.actions.get(operations__operation_id="getForecast")
    vault = gpt.actions.get(domain="vault.localhost")
    forecast = run(public, "getForecast", {"city": "Paris"}, owner)
    assert forecast.status == 200 and forecast.body["city"] == "Paris"
    echo = run(public, "echoRequest", {}, owner)
    assert (
        echo.body["authorization_present"] is False
        and "x-demo-key" not in echo.body["header_names"]
    )
    message = run(vault, "getVaultMessage", {}, owner)
    assert message.status == 200 and message.body["key_header_seen"] is True
    vault.api_key = "wrong"
    vault.save()
    assert run(vault, "getVaultMessage", {}, owner).status == 401
