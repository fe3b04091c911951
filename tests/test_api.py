"""The agent API over real HTTP: tokens from our own OAuth server, calls to a recording upstream."""

import base64
import hashlib
import json
import secrets
import socket
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from actions import outbound
from actions.models import GPT, AlwaysAllow, CallRecord
from actions.schemas import save_action_schema
from tests.schemas import with_server
from tests.upstream import RecordingUpstream, _Handler

pytestmark = pytest.mark.django_db

API_KEY = "planted-api-key-7f3a9c"

SCHEMA = """\
openapi: 3.1.0
info: {title: Weather, version: "1.0"}
servers:
  - url: https://api.weather.example.com/v1
paths:
  /cities/{city}/forecast:
    get:
      operationId: getForecast
      summary: Forecast for a city
      parameters:
        - {name: city, in: path, required: true, schema: {type: string}}
        - {name: days, in: query, schema: {type: integer}}
      responses: {"200": {description: OK}}
  /alerts:
    post:
      operationId: createAlert
      summary: Subscribe to alerts
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, properties: {city: {type: string}}}
      responses: {"201": {description: Created}}
  /alerts/{alert_id}:
    delete:
      operationId: deleteAlert
      summary: Cancel an alert
      x-openai-isConsequential: true
      parameters:
        - {name: alert_id, in: path, required: true, schema: {type: string}}
      responses: {"204": {description: Deleted}}
"""

CALENDAR = """\
openapi: 3.1.0
info: {title: Calendar, version: "1.0"}
servers:
  - url: https://calendar.example.com/api
paths:
  /events:
    get:
      operationId: listEvents
      summary: The user's events
      responses: {"200": {description: OK}}
"""


@pytest.fixture(autouse=True)
def local(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True


def weather_action(gpt, url):
    """The weather action at `url`, with its API key sent in X-Api-Key."""
    action, _ = save_action_schema(gpt=gpt, text=with_server(url, SCHEMA))
    action.auth_type, action.api_key = "api_key", API_KEY
    action.api_key_auth_type, action.custom_header_name = "custom", "X-Api-Key"
    action.save()
    return action


@pytest.fixture
def action(gpt, upstream):
    return weather_action(gpt, upstream.url("/v1"))


@pytest.fixture
def app(owner):
    """An agent backend registered with this app's OAuth server."""
    return Application.objects.create(
        name="Agent backend",
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://agent.example.com/callback",
    )


def issue_token(app, user, *, scope="actions", expires_in=3600) -> str:
    token = secrets.token_urlsafe(32)
    AccessToken.objects.create(
        user=user,
        application=app,
        token=token,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    return token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def owner_token(app, owner):
    return bearer(issue_token(app, owner))


def invoke(client, gpt_id, body, headers=None, **kwargs):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    kwargs.setdefault("content_type", "application/json")
    return client.post(f"/api/v1/gpts/{gpt_id}/invoke", data, headers=headers, **kwargs)


def forecast(city="Paris", **arguments):
    return {"operation": "getForecast", "arguments": {"city": city, **arguments}}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SlowUpstream(RecordingUpstream):
    """The recording upstream, answering only once `release` is set (or after 10 s)."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self._server.RequestHandlerClass = _SlowHandler


class _SlowHandler(_Handler):
    def send_response(self, *args, **kwargs):
        self.server.owner.release.wait(10)  # the request is recorded; its answer comes late
        super().send_response(*args, **kwargs)

    def _handle(self):
        try:
            super()._handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller stopped waiting, as it should

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


# --- tools ---------------------------------------------------------------------------------


def test_it_lists_the_tools_in_action_then_schema_order(client, gpt, action, owner_token):
    calendar, _ = save_action_schema(gpt=gpt, text=CALENDAR)

    response = client.get(f"/api/v1/gpts/{gpt.id}/tools", headers=owner_token)

    assert response.status_code == 200
    body = response.json()
    assert body["gpt"] == {"id": gpt.id, "name": "Weather helper"}
    names = [tool["function"]["name"] for tool in body["tools"]]
    assert names == ["getForecast", "createAlert", "deleteAlert", "listEvents"]
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "getForecast",
            "description": "Forecast for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
    assert "no-store" in response["Cache-Control"]


def test_it_lists_the_tools_for_the_browser_session(owner_client, gpt, action):
    response = owner_client.get(f"/api/v1/gpts/{gpt.id}/tools")
    assert response.status_code == 200
    assert len(response.json()["tools"]) == 3


def test_it_answers_other_methods_with_405(owner_client, gpt, action):
    response = owner_client.post(f"/api/v1/gpts/{gpt.id}/tools")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["error"] == "method_not_allowed"

    response = owner_client.get(f"/api/v1/gpts/{gpt.id}/invoke")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"


# --- who is calling ------------------------------------------------------------------------


def test_it_runs_an_operation_with_the_api_key_for_a_token(
    client, gpt, action, upstream, owner_token, owner
):
    upstream.reply_with(200, '{"high_c": 21}', headers={"X-RateLimit-Remaining": "9"})

    response = invoke(client, gpt.id, forecast("São Paulo/Centro", days=3), owner_token)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200
    assert body["body"] == {"high_c": 21}
    assert body["truncated"] is False
    assert body["headers"]["x-ratelimit-remaining"] == "9"
    assert isinstance(body["duration_ms"], int)
    seen = upstream.requests[-1]
    assert seen.method == "GET"
    assert seen.path == "/v1/cities/S%C3%A3o%20Paulo%2FCentro/forecast?days=3"
    assert seen.headers["X-Api-Key"] == API_KEY
    # The caller's own token stays here: it is for this app, not for the API.
    assert "Authorization" not in seen.headers
    record = CallRecord.objects.get()
    assert (record.user, record.client, record.outcome) == (owner, "Agent backend", "ok")
    assert (record.operation_name, record.upstream_status) == ("getForecast", 200)


def test_it_runs_an_operation_in_few_queries(
    client, gpt, action, upstream, owner_token, django_assert_max_num_queries
):
    # Token (with its application and user), operation (with action and GPT), call record.
    with django_assert_max_num_queries(3):
        response = invoke(client, gpt.id, forecast(), owner_token)
    assert response.status_code == 200


def test_it_names_the_client_by_client_id_when_the_application_has_no_name(
    client, gpt, action, upstream, app, owner
):
    app.name = ""
    app.save()
    response = invoke(client, gpt.id, forecast(), bearer(issue_token(app, owner)))
    assert response.status_code == 200
    assert CallRecord.objects.get().client == app.client_id


def test_it_runs_an_operation_for_the_browser_session(owner_client, gpt, action, upstream):
    response = invoke(owner_client, gpt.id, forecast())
    assert response.status_code == 200
    assert upstream.requests[-1].headers["X-Api-Key"] == API_KEY
    assert CallRecord.objects.get().client == "browser"


def test_it_refuses_a_session_post_without_the_csrf_token(owner, gpt, action, upstream):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)

    response = invoke(browser, gpt.id, forecast())

    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert "X-CSRFToken" in response.json()["detail"]
    assert upstream.requests == []
    assert not CallRecord.objects.exists()


def test_it_accepts_a_session_post_with_the_csrf_token(owner, gpt, action, upstream):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    browser.get("/accounts/login/")  # any page with a form sets the csrftoken cookie
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"].value}

    response = invoke(browser, gpt.id, forecast(), csrf)

    assert response.status_code == 200
    assert len(upstream.requests) == 1


def test_it_needs_a_bearer_token_not_the_cookie_for_agent_clients(gpt, action, app, owner):
    # A Bearer request is judged by its token alone, even from a signed-in browser.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    response = invoke(browser, gpt.id, forecast(), bearer(issue_token(app, owner)))
    assert response.status_code == 200

    response = invoke(browser, gpt.id, forecast(), bearer("not-a-token"))
    assert response.status_code == 401


def test_it_requires_credentials(client, gpt, action, upstream):
    for response in (
        invoke(client, gpt.id, forecast()),
        client.get(f"/api/v1/gpts/{gpt.id}/tools"),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "authentication_required"
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert upstream.requests == []


def test_it_refuses_an_unknown_token(client, gpt, action, upstream):
    response = invoke(client, gpt.id, forecast(), bearer("made-up-token"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert upstream.requests == []


def test_it_refuses_an_expired_token(client, gpt, action, upstream, app, owner):
    token = issue_token(app, owner, expires_in=-1)
    response = invoke(client, gpt.id, forecast(), bearer(token))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "detail": "The access token has expired."}
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert upstream.requests == []


def test_it_refuses_a_token_without_the_actions_scope(client, gpt, action, upstream, app, owner):
    token = issue_token(app, owner, scope="read write")

    for response in (
        invoke(client, gpt.id, forecast(), bearer(token)),
        client.get(f"/api/v1/gpts/{gpt.id}/tools", headers=bearer(token)),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert upstream.requests == []


def test_it_refuses_a_token_of_an_inactive_user(client, gpt, action, upstream, app, owner):
    token = issue_token(app, owner)
    owner.is_active = False
    owner.save()
    response = invoke(client, gpt.id, forecast(), bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_it_refuses_client_credentials_tokens_which_have_no_end_user(
    client, gpt, action, upstream, owner
):
    secret = "client-secret-" + secrets.token_urlsafe(16)
    machine = Application.objects.create(
        name="Cron job",
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    basic = base64.b64encode(f"{machine.client_id}:{secret}".encode()).decode()

    issued = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "actions"},
        headers={"Authorization": f"Basic {basic}"},
    )

    assert issued.status_code == 200, issued.content
    token = issued.json()["access_token"]
    checksum = hashlib.sha256(token.encode()).hexdigest()
    # DOT 3.4 leaves the user empty for client_credentials, even though the app has one.
    stored = AccessToken.objects.get(token_checksum=checksum)
    assert stored.user is None and stored.scope == "actions"
    response = invoke(client, gpt.id, forecast(), bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "no end user" in response.json()["detail"]
    assert upstream.requests == []


# --- which GPT -----------------------------------------------------------------------------


def test_it_hides_an_only_me_gpt_from_others(client, gpt, action, upstream, app, outsider):
    token = bearer(issue_token(app, outsider))

    responses = [
        client.get(f"/api/v1/gpts/{gpt.id}/tools", headers=token),
        invoke(client, gpt.id, forecast(), token),
        invoke(client, gpt.id, {"operation": "noSuchOperation"}, token),
        invoke(client, "g-doesnotexi", forecast(), token),
    ]

    for response in responses:
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    assert responses[1].json() == responses[3].json()  # existence is not revealed
    assert upstream.requests == []


def test_it_lets_anyone_with_the_link_use_a_link_gpt(client, gpt, action, upstream, app, outsider):
    gpt.visibility = GPT.Visibility.LINK
    gpt.save()
    token = bearer(issue_token(app, outsider))

    assert client.get(f"/api/v1/gpts/{gpt.id}/tools", headers=token).status_code == 200
    response = invoke(client, gpt.id, forecast(), token)

    assert response.status_code == 200
    assert upstream.requests[-1].headers["X-Api-Key"] == API_KEY
    assert CallRecord.objects.get().user == outsider


def test_it_names_the_operations_when_the_operation_is_unknown(client, gpt, action, owner_token):
    response = invoke(client, gpt.id, {"operation": "getForcast"}, owner_token)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unknown_operation",
        "detail": "Weather helper has no operation 'getForcast'.",
        "operations": ["getForecast", "createAlert", "deleteAlert"],
    }


@pytest.mark.parametrize("name", ["getForecast\\u0000", "getForecast\\ud800"])
def test_it_answers_an_operation_name_no_database_can_hold_as_unknown(
    client, gpt, action, owner_token, name
):
    response = invoke(client, gpt.id, f'{{"operation": "{name}"}}', owner_token)
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_operation"


@pytest.mark.parametrize("gpt_id", ["g-%00", "g-%ED%A0%80"])
def test_it_answers_404_in_json_for_a_gpt_id_no_database_can_hold(client, gpt, owner_token, gpt_id):
    tools = client.get(f"/api/v1/gpts/{gpt_id}/tools", headers=owner_token)
    invoked = invoke(client, gpt_id, forecast(), owner_token)
    for response in (tools, invoked):
        assert response.status_code == 404 and response.json()["error"] == "not_found"


# --- the request body ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, words",
    [
        (" ", "empty"),
        ('{"operation": "getForecast",', "not valid JSON"),
        (b'{"operation": "\xff"}', "not valid JSON"),
        ('{"operation": "getForecast", "arguments": {"days": NaN}}', "NaN"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('["getForecast"]', "must be a JSON object, not an array"),
        ("{}", "'operation' must be a string"),
        ('{"operation": 7}', "'operation' must be a string"),
        ('{"operation": "getForecast", "arguments": [1]}', "'arguments' must be a JSON object"),
        ('{"operation": "getForecast", "arguments": "{}"}', "not a string; parse it first"),
        ('{"operation": "getForecast", "confirmed": "yes"}', "'confirmed' must be true or false"),
        ('{"operation": "getForecast", "always_allow": 1}', "'always_allow' must be true or false"),
        ('{"operation": "getForecast", "confirm": true}', "Unknown field 'confirm'"),
    ],
)
def test_it_refuses_a_malformed_body(client, gpt, action, upstream, owner_token, body, words):
    response = invoke(client, gpt.id, body, owner_token)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_json", "invalid_request")
    assert words in response.json()["detail"]
    assert upstream.requests == []
    assert not CallRecord.objects.exists()


def test_it_refuses_a_body_that_is_not_json(client, gpt, action, upstream, owner_token):
    response = invoke(
        client, gpt.id, "operation=getForecast", owner_token, content_type="text/plain"
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]
    assert upstream.requests == []


def test_it_refuses_a_body_over_a_megabyte(client, gpt, action, upstream, owner_token):
    big = forecast("x" * 1_000_001)
    response = invoke(client, gpt.id, big, owner_token)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"
    assert upstream.requests == []


def test_it_names_an_argument_of_the_wrong_type(client, gpt, action, upstream, owner_token):
    response = invoke(client, gpt.id, forecast(days="three"), owner_token)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_arguments"
    assert "'days'" in response.json()["detail"]
    assert upstream.requests == []
    assert CallRecord.objects.get().outcome == "invalid_arguments"


def test_it_names_an_argument_json_cannot_send(client, gpt, action, upstream, owner_token):
    # Python reads 1e400 as infinity, which JSON cannot carry upstream: the caller's mistake.
    body = '{"operation": "createAlert", "arguments": {"body": {"distance": 1e400}}}'
    response = invoke(client, gpt.id, body, owner_token)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_arguments"
    assert response.json()["detail"].startswith("argument 'body': an infinite number")
    assert upstream.requests == []


def test_it_names_a_missing_required_argument(client, gpt, action, upstream, owner_token):
    response = invoke(client, gpt.id, {"operation": "getForecast"}, owner_token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_arguments"
    assert "missing required argument 'city'" in response.json()["detail"]
    assert upstream.requests == []


# --- consequential operations --------------------------------------------------------------


def test_it_asks_before_a_consequential_call_and_remembers_always_allow(
    client, gpt, action, upstream, owner_token, owner
):
    upstream.reply_with(201, '{"id": "a1"}')
    alert = {"operation": "createAlert", "arguments": {"body": {"city": "Oslo"}}}

    asked = invoke(client, gpt.id, alert, owner_token)
    assert asked.status_code == 428
    assert asked.json()["error"] == "confirmation_required"
    assert asked.json()["always_allow_offered"] is True
    assert upstream.requests == []

    allowed = invoke(
        client, gpt.id, {**alert, "confirmed": True, "always_allow": True}, owner_token
    )
    assert allowed.status_code == 200
    assert allowed.json()["body"] == {"id": "a1"}
    assert json.loads(upstream.requests[-1].body) == {"city": "Oslo"}
    assert AlwaysAllow.objects.filter(user=owner, operation__operation_id="createAlert").exists()

    again = invoke(client, gpt.id, alert, owner_token)
    assert again.status_code == 200
    assert len(upstream.requests) == 2
    outcomes = list(CallRecord.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["confirmation_required", "ok", "ok"]


def test_it_always_asks_when_the_schema_says_consequential(
    client, gpt, action, upstream, owner_token
):
    upstream.reply_with(204, "")
    delete = {"operation": "deleteAlert", "arguments": {"alert_id": "a1"}}

    asked = invoke(client, gpt.id, delete, owner_token)
    assert asked.status_code == 428
    assert asked.json()["always_allow_offered"] is False

    confirmed = {**delete, "confirmed": True, "always_allow": True}
    assert invoke(client, gpt.id, confirmed, owner_token).status_code == 200
    assert upstream.requests[-1].method == "DELETE"
    assert upstream.requests[-1].path == "/v1/alerts/a1"
    assert not AlwaysAllow.objects.exists()
    assert invoke(client, gpt.id, delete, owner_token).status_code == 428


# --- upstream failures ---------------------------------------------------------------------


def test_it_reports_an_upstream_500_as_502(client, gpt, action, upstream, owner_token):
    upstream.reply_with(500, '{"message": "boom"}')

    response = invoke(client, gpt.id, forecast(), owner_token)

    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "upstream_error"
    assert body["status"] == 500
    assert body["body"] == {"message": "boom"}
    record = CallRecord.objects.get()
    assert (record.outcome, record.upstream_status) == ("upstream_error", 500)


def test_it_reports_a_closed_port_as_502(client, gpt, owner_token):
    weather_action(gpt, f"http://127.0.0.1:{closed_port()}/v1")

    response = invoke(client, gpt.id, forecast(), owner_token)

    assert response.status_code == 502
    assert response.json()["error"] == "upstream_error"
    assert "Could not connect" in response.json()["detail"]
    assert CallRecord.objects.get().outcome == "upstream_error"


def test_it_refuses_a_private_address_unless_allowed(
    client, gpt, action, upstream, owner_token, settings
):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False

    response = invoke(client, gpt.id, forecast(), owner_token)

    assert response.status_code == 502
    assert response.json()["error"] == "upstream_error"
    assert "loopback" in response.json()["detail"]
    assert upstream.requests == []
    assert CallRecord.objects.get().outcome == "refused"


def test_it_reports_a_slow_upstream_as_504(client, gpt, owner_token, monkeypatch):
    monkeypatch.setattr(outbound, "TOTAL_TIMEOUT", 0.5)
    slow = SlowUpstream()
    try:
        weather_action(gpt, slow.url("/v1"))
        response = invoke(client, gpt.id, forecast(), owner_token)
    finally:
        slow.release.set()
        slow.close()

    assert response.status_code == 504
    assert response.json()["error"] == "upstream_timeout"
    assert slow.requests[-1].headers["X-Api-Key"] == API_KEY
    assert CallRecord.objects.get().outcome == "upstream_timeout"


# --- OAuth actions -------------------------------------------------------------------------


def test_it_asks_to_sign_in_for_an_oauth_action(client, gpt, owner_token):
    calendar, _ = save_action_schema(gpt=gpt, text=CALENDAR)
    calendar.auth_type = "oauth"
    calendar.client_id, calendar.client_secret = "cal-client", "cal-secret"
    calendar.authorization_url = "https://calendar.example.com/oauth/authorize"
    calendar.token_url = "https://calendar.example.com/oauth/token"
    calendar.save()

    response = invoke(client, gpt.id, {"operation": "listEvents"}, owner_token)

    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "sign_in_required"
    assert body["domain"] == "calendar.example.com"
    sign_in = f"http://testserver/aip/{gpt.id}/actions/{calendar.id}/sign-in/"
    assert body["sign_in_url"].startswith(sign_in)
    assert CallRecord.objects.get().outcome == "sign_in_required"


# --- call records --------------------------------------------------------------------------


def test_it_records_calls_without_the_key_or_bodies(client, gpt, action, upstream, owner_token):
    upstream.reply_with(201, '{"reply": "reply-body-secret"}')
    alert = {
        "operation": "createAlert",
        "arguments": {"body": {"city": "request-body-secret"}},
        "confirmed": True,
    }

    assert invoke(client, gpt.id, alert, owner_token).status_code == 200
    assert invoke(client, gpt.id, forecast("query-secret"), owner_token).status_code == 200
    assert invoke(client, gpt.id, forecast(days="x"), owner_token).status_code == 400

    assert upstream.requests[0].headers["X-Api-Key"] == API_KEY
    records = list(CallRecord.objects.values())
    assert len(records) == 3
    stored = json.dumps(records, default=str)
    for secret in (API_KEY, "request-body-secret", "reply-body-secret", "query-secret"):
        assert secret not in stored
