"""Faults: what the user sees, and what is kept, when a token endpoint, an action's API or the
database fails, and that the next call after recovery works.

Everything failing here is a real local server (`FaultyServer`: late, dribbling, cut short, junk
bodies) or a closed port; the database restart is a real pg_terminate_backend on PostgreSQL.
"""

import html
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection, connections
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from actions import outbound
from actions.models import CallRecord, Connection, PendingSignIn
from actions.schemas import save_action_schema
from tests.schemas import with_server
from tests.upstream import Recorded, _Handler

pytestmark = pytest.mark.django_db

API_KEY = "planted-api-key-faults"
TIMEOUT = 0.3  # outbound.TOTAL_TIMEOUT in the "slow" cases
TOKEN = '{"access_token": "at-new", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt-new"}'  # noqa: E501

PROFILE = """\
openapi: 3.1.0
info: {title: Profile, version: "1.0"}
servers:
  - url: https://api.weather.example.com/v1
paths:
  /me:
    get:
      operationId: getMe
      summary: The signed-in user's profile
      responses: {"200": {description: OK}}
"""


# --- a real local server that fails as told ------------------------------------------------


@dataclass
class Answer:
    """A plain HTTP answer."""

    status: int = 200
    body: str | bytes = "{}"
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)

    @property
    def payload(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body

    def head(self, handler, length: int) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(length))
        for name, value in self.headers.items():
            handler.send_header(name, value)
        handler.end_headers()

    def send(self, handler) -> None:
        self.head(handler, len(self.payload))
        handler.wfile.write(self.payload)


@dataclass
class Late:
    """Says nothing for `seconds` (or until the server closes), then answers."""

    seconds: float
    then: Answer = field(default_factory=Answer)

    def send(self, handler) -> None:
        handler.server.owner.release.wait(self.seconds)
        self.then.send(handler)


@dataclass
class Dribble:
    """Sends the status and headers at once, then the body one byte every `gap` seconds."""

    gap: float
    then: Answer = field(default_factory=lambda: Answer(body='{"slowly": "' + "x" * 50 + '"}'))

    def send(self, handler) -> None:
        self.then.head(handler, len(self.then.payload))
        handler.wfile.flush()
        for byte in self.then.payload:
            if handler.server.owner.release.wait(self.gap):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()


@dataclass
class CutShort:
    """Promises a longer body than it sends, then hangs up."""

    then: Answer = field(default_factory=lambda: Answer(body='{"items": ["a", "b"'))

    def send(self, handler) -> None:
        self.then.head(handler, len(self.then.payload) + 5_000)
        handler.wfile.write(self.then.payload)
        handler.wfile.flush()
        handler.close_connection = True


@dataclass
class PerToken:
    """Answers by the Authorization header; 401 to a token it does not know."""

    answers: dict

    def send(self, handler) -> None:
        refused = Answer(401, '{"error": "invalid_token"}')
        self.answers.get(handler.headers.get("Authorization"), refused).send(handler)


class _FaultyHandler(_Handler):
    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        owner.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
        try:
            owner.answer_for(self.path).send(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller stopped waiting, as it should

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class FaultyServer:
    """A real local HTTP server that records requests and answers each path prefix as told."""

    def __init__(self, port: int = 0):
        self.requests: list[Recorded] = []
        self.answers: dict[str, object] = {}
        self.release = threading.Event()
        self._server = _Server(("127.0.0.1", port), _FaultyHandler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, prefix: str, answer) -> "FaultyServer":
        self.answers[prefix] = answer
        return self

    def answer_for(self, path: str):
        path = path.split("?", 1)[0]
        prefixes = sorted((p for p in self.answers if path.startswith(p)), key=len, reverse=True)
        return self.answers[prefixes[0]] if prefixes else Answer(404, '{"error": "not_found"}')

    def paths(self, prefix: str = "/") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self.release.set()  # wake every late or dribbling answer
        self._server.shutdown()
        self._server.server_close()


def closed_port() -> int:
    """A port nothing listens on (yet): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def local(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def servers():
    """Servers started by a test, closed after it (also when it fails)."""
    started: list[FaultyServer] = []

    def start(port: int = 0) -> FaultyServer:
        started.append(FaultyServer(port))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def browser(owner):
    """The signed-in owner; a server error comes back as a 500 response, not an exception."""
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    return client


def invoke(client, gpt, body):
    return client.post(
        f"/api/v1/gpts/{gpt.id}/invoke", json.dumps(body), content_type="application/json"
    )


def run_on_page(client, gpt, action, operation_id, **fields):
    arguments = {f"arg-{name}": value for name, value in fields.items()}  # OperationForm's prefix
    return client.post(f"/g/{gpt.id}/run/{operation_id}/", {"action": action.id, **arguments})


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def outcomes() -> list[str]:
    return list(CallRecord.objects.order_by("id").values_list("outcome", flat=True))


def weather_action(gpt, url):
    """The weather action at `url`, its API key sent in X-Api-Key."""
    action, _ = save_action_schema(gpt=gpt, text=with_server(url))
    action.auth_type, action.api_key = "api_key", API_KEY
    action.api_key_auth_type, action.custom_header_name = "custom", "X-Api-Key"
    action.save()
    return action


def oauth_action(gpt, api: FaultyServer, provider_port: int):
    """getMe on `api`, signed in through the provider at `provider_port` (maybe not running)."""
    action, _ = save_action_schema(gpt=gpt, text=with_server(api.url("/v1"), PROFILE))
    action.auth_type = "oauth"
    action.client_id, action.client_secret = "client-1", "client-secret-1"
    action.authorization_url = f"http://127.0.0.1:{provider_port}/authorize"
    action.token_url = f"http://127.0.0.1:{provider_port}/token"
    action.scope = "profile"
    action.save()
    return action


def connect(action, user, *, expires_in: int, status="active") -> Connection:
    return Connection.objects.create(
        user=user,
        action=action,
        access_token="at-old",
        refresh_token="rt-old",
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        scope="profile",
        status=status,
    )


def kept(connection: Connection) -> tuple:
    """What a failed sign-in or refresh must leave exactly as it was."""
    connection.refresh_from_db()
    return (
        connection.access_token,
        connection.refresh_token,
        connection.token_type,
        connection.expires_at,
        connection.scope,
        connection.status,
        connection.refreshed,
    )


def sign_in(client, action, next_url="/connections/") -> str:
    """Press "Sign in to ...": the state the provider would send back."""
    response = client.post(f"/aip/{action.gpt_id}/actions/{action.id}/sign-in/", {"next": next_url})
    assert response.status_code == 302
    return parse_qs(urlsplit(response.url).query)["state"][0]


def callback(client, action, **params):
    return client.get(f"/aip/{action.gpt_id}/oauth/callback", params)


# Token endpoint faults: how to start the provider on `port` (None: nothing listens there).
TOKEN_FAULTS = {
    "down": None,
    "slow": Late(5, Answer(body=TOKEN)),
    "500": Answer(500, "<html><h1>Internal Server Error</h1></html>", "text/html"),
    "html": Answer(200, "<html><body>Down for maintenance</body></html>", "text/html"),
    "binary": Answer(200, bytes(range(256)) * 8, "application/octet-stream"),
    "truncated json": Answer(200, TOKEN[:40]),
    "invalid_grant": Answer(400, '{"error": "invalid_grant", "error_description": "Expired"}'),
}


def start_provider(servers, fault: str, port: int, monkeypatch):
    if fault == "slow":
        monkeypatch.setattr(outbound, "TOTAL_TIMEOUT", TIMEOUT)
    answer = TOKEN_FAULTS[fault]
    return None if answer is None else servers(port).answer("/token", answer)


def recover_provider(servers, provider, port: int) -> FaultyServer:
    """The token endpoint is back (started if it was down) and answers a fresh token."""
    return (provider or servers(port)).answer("/token", Answer(body=TOKEN))


# --- the token endpoint during sign-in -----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("down", 502, "The token endpoint could not be reached: Could not connect to 127.0.0.1"),
        ("slow", 502, f"127.0.0.1 did not answer within {TIMEOUT:g} seconds"),
        ("500", 502, "The token endpoint answered 500; try again later."),
        ("html", 400, "The provider refused (the reply has no access_token)"),
        ("binary", 400, "The provider refused (the reply has no access_token)"),
        ("truncated json", 400, "The provider refused (the reply has no access_token)"),
        ("invalid_grant", 400, "The provider refused (invalid_grant): Expired"),
    ],
)
def test_a_failing_token_endpoint_during_sign_in_shows_a_clear_page_and_stores_nothing(
    browser, owner, gpt, servers, monkeypatch, fault, status, words
):
    api, port = servers(), closed_port()
    action = oauth_action(gpt, api, port)
    earlier = connect(action, owner, expires_in=-600, status="needs_sign_in")  # signing in again
    before = kept(earlier)
    provider = start_provider(servers, fault, port, monkeypatch)

    state = sign_in(browser, action)
    response = callback(browser, action, code="c0de", state=state)

    assert response.status_code == status
    text = page_text(response)
    assert "Sign-in did not complete" in text and words in text
    assert "Nothing was stored." in text
    assert "client-secret-1" not in text and "c0de" not in text
    assert kept(earlier) == before
    assert Connection.objects.count() == 1 and not PendingSignIn.objects.exists()

    # The provider is back; "Try again" starts a new sign-in that goes through.
    recover_provider(servers, provider, port)
    try_again = re.search(r'href="([^"]*/sign-in/\?next=[^"]*)"', response.content.decode())
    assert try_again, "the failure page offers Try again"
    assert browser.get(html.unescape(try_again.group(1))).status_code == 200
    response = callback(browser, action, code="c0de-2", state=sign_in(browser, action))
    assert response.status_code == 302 and response.url == "/connections/"
    connection = Connection.objects.get()
    assert (connection.status, connection.access_token, connection.refresh_token) == (
        "active",
        "at-new",
        "rt-new",
    )


@pytest.mark.parametrize("expires_in", ["1e400", "1e15", '"NaN"'])
def test_an_absurd_expires_in_at_sign_in_is_not_a_500(browser, owner, gpt, servers, expires_in):
    api, provider = servers(), servers()
    action = oauth_action(gpt, api, provider.port)
    provider.answer(
        "/token", Answer(body='{"access_token": "at-new", "expires_in": ' + expires_in + "}")
    )

    response = callback(browser, action, code="c0de", state=sign_in(browser, action))

    # Either the token is kept (with no or a capped expiry) or the page says what is wrong.
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert not Connection.objects.exists()


# --- the token endpoint during refresh -----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("down", "The token endpoint could not be reached: Could not connect to 127.0.0.1"),
        ("slow", f"127.0.0.1 did not answer within {TIMEOUT:g} seconds"),
        ("500", "The token endpoint answered 500"),
        ("html", "could not refresh"),
        ("binary", "could not refresh"),
        ("truncated json", "could not refresh"),
    ],
)
def test_a_failing_token_endpoint_on_refresh_is_temporary_and_keeps_the_connection(
    browser, owner, gpt, servers, monkeypatch, fault, words
):
    api, port = servers(), closed_port()
    api.answer("/v1/me", Answer(body='{"name": "Alice"}'))
    action = oauth_action(gpt, api, port)
    connection = connect(action, owner, expires_in=0)  # expiring: the next call refreshes
    before = kept(connection)
    provider = start_provider(servers, fault, port, monkeypatch)

    response = invoke(browser, gpt, {"operation": "getMe"})

    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "upstream_error"
    assert "127.0.0.1 could not refresh your sign-in right now" in body["detail"]
    assert words in body["detail"] and "Try again" in body["detail"]

    page = run_on_page(browser, gpt, action, "getMe")
    assert page.status_code == 200
    text = page_text(page)
    assert "The call failed" in text and "could not refresh your sign-in right now" in text
    assert "Sign in to 127.0.0.1" not in text  # still signed in: nothing to sign in again for

    assert kept(connection) == before
    assert api.paths("/v1") == []  # the expiring token was never sent
    assert outcomes() == ["upstream_error", "upstream_error"]

    recover_provider(servers, provider, port)
    response = invoke(browser, gpt, {"operation": "getMe"})
    assert response.status_code == 200 and response.json()["body"] == {"name": "Alice"}
    assert api.requests[-1].headers["Authorization"] == "Bearer at-new"
    assert kept(connection)[:2] == ("at-new", "rt-new") and kept(connection)[5] == "active"


def test_a_refused_refresh_asks_the_user_to_sign_in_again(browser, owner, gpt, servers):
    api, provider = servers(), servers()
    api.answer("/v1/me", Answer(body='{"name": "Alice"}'))
    action = oauth_action(gpt, api, provider.port)
    provider.answer("/token", TOKEN_FAULTS["invalid_grant"])
    connection = connect(action, owner, expires_in=0)
    tokens = kept(connection)[:2]

    response = invoke(browser, gpt, {"operation": "getMe"})

    assert response.status_code == 401
    body = response.json()
    assert (body["error"], body["domain"]) == ("sign_in_required", "127.0.0.1")
    sign_in_path = f"/aip/{gpt.id}/actions/{action.id}/sign-in/"
    assert body["sign_in_url"] == f"http://testserver{sign_in_path}"
    assert kept(connection)[5] == "needs_sign_in" and kept(connection)[:2] == tokens

    page = page_text(browser.get(f"/g/{gpt.id}/"))
    assert "Sign in to 127.0.0.1" in page
    ran = page_text(run_on_page(browser, gpt, action, "getMe"))
    assert "Sign in to 127.0.0.1 to use this action." in ran and sign_in_path in ran
    assert api.paths("/v1") == []
    assert outcomes() == ["sign_in_required", "sign_in_required"]

    # Signing in again brings the action back.
    provider.answer("/token", Answer(body=TOKEN))
    assert callback(browser, action, code="c", state=sign_in(browser, action)).status_code == 302
    response = invoke(browser, gpt, {"operation": "getMe"})
    assert response.status_code == 200
    assert api.requests[-1].headers["Authorization"] == "Bearer at-new"
    assert kept(connection)[5] == "active"


@pytest.mark.parametrize("expires_in", ["1e400", "1e15", '"NaN"'])
def test_an_absurd_expires_in_on_refresh_is_not_a_500(browser, owner, gpt, servers, expires_in):
    api, provider = servers(), servers()
    action = oauth_action(gpt, api, provider.port)
    provider.answer(
        "/token", Answer(body='{"access_token": "at-new", "expires_in": ' + expires_in + "}")
    )
    connect(action, owner, expires_in=0)

    response = invoke(browser, gpt, {"operation": "getMe"})
    assert response.status_code in (200, 502)
    assert run_on_page(browser, gpt, action, "getMe").status_code == 200


def test_a_token_endpoint_down_when_the_api_refuses_the_token_keeps_the_connection(
    browser, owner, gpt, servers
):
    """The refresh after a 401 (a token revoked early) meets a token endpoint that is down."""
    api, port = servers(), closed_port()
    api.answer("/v1/me", PerToken({"Bearer at-new": Answer(body='{"name": "Alice"}')}))
    action = oauth_action(gpt, api, port)
    connection = connect(action, owner, expires_in=3600)  # not expiring: the API refuses it
    before = kept(connection)

    response = invoke(browser, gpt, {"operation": "getMe"})

    assert response.status_code == 502
    assert "could not refresh your sign-in right now" in response.json()["detail"]
    assert [r.headers["Authorization"] for r in api.requests] == ["Bearer at-old"]
    assert kept(connection) == before
    assert outcomes() == ["upstream_error"]

    recover_provider(servers, None, port)
    response = invoke(browser, gpt, {"operation": "getMe"})
    assert response.status_code == 200 and response.json()["body"] == {"name": "Alice"}
    assert api.requests[-1].headers["Authorization"] == "Bearer at-new"
    assert kept(connection)[:2] == ("at-new", "rt-new")


# --- the action's API ----------------------------------------------------------------------

API_FAULTS = {
    # fault: (answer, agent status, error, call outcome, detail words, page title)
    "down": (None, 502, "upstream_error", "Could not connect to 127.0.0.1", "The call failed"),
    "slow": (Late(5), 504, "upstream_timeout", "did not answer within 0.3", "No answer in time"),
    "dribble": (Dribble(0.05), 504, "upstream_timeout", "did not answer", "No answer in time"),
    "503": (
        Answer(503, '{"message": "overloaded"}'),
        502,
        "upstream_error",
        "127.0.0.1 answered 503",
        "The call failed",
    ),
    "cut short": (
        CutShort(),
        502,
        "upstream_error",
        "The connection to 127.0.0.1 broke during the answer",
        "The call failed",
    ),
}


@pytest.mark.parametrize("fault", list(API_FAULTS))
def test_a_failing_api_is_a_502_or_504_and_a_readable_page_then_works_again(
    browser, gpt, servers, monkeypatch, fault
):
    answer, status, error, words, title = API_FAULTS[fault]
    monkeypatch.setattr(outbound, "TOTAL_TIMEOUT", TIMEOUT)
    port = closed_port()
    action = weather_action(gpt, f"http://127.0.0.1:{port}/v1")
    api = None if answer is None else servers(port).answer("/v1", answer)

    response = invoke(browser, gpt, {"operation": "getForecast", "arguments": {"city": "Oslo"}})

    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and words in body["detail"]
    if fault == "503":  # the API did answer: the agent sees what it said
        assert (body["status"], body["body"]) == (503, {"message": "overloaded"})

    page = run_on_page(browser, gpt, action, "getForecast", city="Oslo")
    assert page.status_code == 200
    text = page_text(page)
    assert title in text and words in text
    if fault == "503":
        assert '<span class="status status-5xx">503</span>' in page.content.decode()

    records = list(CallRecord.objects.order_by("id").values_list("outcome", "upstream_status"))
    expected_status = 503 if fault == "503" else None
    assert records == [(error, expected_status)] * 2
    if api is not None:
        assert all(r.headers["X-Api-Key"] == API_KEY for r in api.requests)

    api = (api or servers(port)).answer("/v1", Answer(body='{"high_c": 21}'))
    response = invoke(browser, gpt, {"operation": "getForecast", "arguments": {"city": "Oslo"}})
    assert response.status_code == 200 and response.json()["body"] == {"high_c": 21}
    assert outcomes()[-1] == "ok"


BIG_JSON = json.dumps({"items": ["x" * 90] * 2_000})  # ~190,000 characters


@pytest.mark.parametrize(
    ("answer", "body", "truncated"),
    [
        (Answer(body=BIG_JSON), BIG_JSON[:100_000], True),
        (Answer(body="a" * 150_000, content_type="text/plain"), "a" * 100_000, True),
        (Answer(body='"' + "y" * 99_998 + '"'), "y" * 99_998, False),  # exactly at the cap
        (Answer(body="Hello, world", content_type="text/plain"), "Hello, world", False),
        (
            Answer(body="<html><b>hi</b></html>", content_type="text/html"),
            "<html><b>hi</b></html>",
            False,
        ),  # noqa: E501
        (Answer(body='{"a": 1,', content_type="application/json"), '{"a": 1,', False),
        (
            Answer(body="café".encode("latin-1"), content_type="text/plain; charset=latin-1"),
            "café",
            False,
        ),
        (Answer(body=b"\xff\xfe\x00binary", content_type="application/octet-stream"), None, False),
        (Answer(204, b"", content_type="text/plain"), "", False),
    ],
    ids=["big-json", "big-text", "at-cap", "text", "html", "bad-json", "latin-1", "binary", "204"],
)
def test_an_odd_or_oversized_answer_reaches_the_agent_and_the_page(
    browser, gpt, servers, answer, body, truncated
):
    api = servers().answer("/v1", answer)
    action = weather_action(gpt, api.url("/v1"))

    response = invoke(browser, gpt, {"operation": "getForecast", "arguments": {"city": "Oslo"}})

    assert response.status_code == 200
    got = response.json()
    assert (got["status"], got["truncated"]) == (answer.status, truncated)
    if body is None:  # undecodable bytes arrive as text with replacement characters
        assert isinstance(got["body"], str) and got["body"].endswith("binary")
    else:
        assert got["body"] == body
    assert CallRecord.objects.get().outcome == "ok"

    page = run_on_page(browser, gpt, action, "getForecast", city="Oslo")
    assert page.status_code == 200
    assert ("(truncated)" in page_text(page)) is truncated
    if body and len(body) < 1000:
        assert body in page_text(page)


def test_a_deeply_nested_json_answer_is_not_a_500(browser, gpt, servers):
    api = servers().answer("/v1", Answer(body="[" * 5_000 + "]" * 5_000))
    action = weather_action(gpt, api.url("/v1"))

    response = invoke(browser, gpt, {"operation": "getForecast", "arguments": {"city": "Oslo"}})
    assert response.status_code == 200 and response.json()["status"] == 200
    assert run_on_page(browser, gpt, action, "getForecast", city="Oslo").status_code == 200
    assert outcomes() == ["ok", "ok"]


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_an_out_of_range_number_in_an_answer_still_gives_the_agent_valid_json(
    browser, gpt, servers
):
    api = servers().answer("/v1", Answer(body='{"distance": 1e400}'))
    weather_action(gpt, api.url("/v1"))

    response = invoke(browser, gpt, {"operation": "getForecast", "arguments": {"city": "Oslo"}})

    assert response.status_code == 200
    assert _strict_json(response.content.decode())["status"] == 200


# --- the database restarting between two calls --------------------------------------------


class _QuietWSGIHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class AppServer:
    """The app behind a one-thread WSGI server, like a sync gunicorn worker: its database
    connection outlives a request (CONN_MAX_AGE) and is health-checked at the next one."""

    def __init__(self):
        self.httpd = make_server(
            "127.0.0.1", 0, get_wsgi_application(), WSGIServer, _QuietWSGIHandler
        )
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        try:
            self.httpd.serve_forever(poll_interval=0.05)
        finally:
            connections.close_all()  # this thread's connection, so the test database can go

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def _database_sessions(killer) -> set[int]:
    rows = killer.execute(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return {pid for (pid,) in rows}


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL=postgres://...): a database restart drops server "
    "connections, which SQLite does not have",
)
@pytest.mark.django_db(transaction=True)
def test_a_database_restart_between_two_calls_costs_a_reconnect_not_a_500(
    owner, gpt, servers, settings
):
    import psycopg

    settings.ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
    api = servers().answer("/v1", Answer(body='{"high_c": 21}'))
    weather_action(gpt, api.url("/v1"))
    app = Application.objects.create(
        name="Agent backend",
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://agent.example.com/callback",
    )
    token = AccessToken.objects.create(
        user=owner,
        application=app,
        token="agent-token-faults",
        scope="actions",
        expires=timezone.now() + timedelta(hours=1),
    )
    db = connection.settings_dict
    server = AppServer()
    try:

        def call():
            return requests.post(
                server.url(f"/api/v1/gpts/{gpt.id}/invoke"),
                json={"operation": "getForecast", "arguments": {"city": "Oslo"}},
                headers={"Authorization": f"Bearer {token.token}"},
                timeout=10,
            )

        first = call()
        assert first.status_code == 200 and first.json()["body"] == {"high_c": 21}

        with psycopg.connect(
            dbname=db["NAME"],
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            autocommit=True,
        ) as killer:
            killed = _database_sessions(killer)
            assert killed, "the app keeps its connection between requests (CONN_MAX_AGE)"
            killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            close_old_connections()  # this test's connection died too: reconnect like a request

            second = call()
            assert second.status_code == 200, second.text[:500]
            assert second.json()["body"] == {"high_c": 21}
            assert killed.isdisjoint(_database_sessions(killer))  # it really reconnected
    finally:
        server.close()
    assert outcomes() == ["ok", "ok"]
