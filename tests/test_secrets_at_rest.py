"""Plant known secrets, run the whole flow, then search the database, the logs and every page
the builder and the end user saw: zero hits.

The API key and client secret are typed by the builder; the access and refresh tokens come
from the token endpoint (the recording upstream); the PKCE verifier is random, so it is read
from what reached the token endpoint and then searched for like the others.
"""

import io
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from actions.models import Action, Connection
from actions.redaction import RedactSecrets
from tests.schemas import WEATHER

pytestmark = pytest.mark.django_db

API_KEY = "planted-api-key-7f3a9c"
CLIENT_SECRET = "planted-client-secret-51be02"
ACCESS, REFRESH = "planted-access-token-aa11", "planted-refresh-token-bb22"
ACCESS_2, REFRESH_2 = "planted-access-token-cc33", "planted-refresh-token-dd44"


def schema(server: str, suffix: str) -> str:
    text = WEATHER.replace("https://api.weather.example.com/v1", server)
    return text.replace("getForecast", f"getForecast{suffix}").replace(
        "createAlert", f"createAlert{suffix}"
    )


def database_dump() -> str:
    """Every row of every table, as the database stores it."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


@pytest.fixture
def logs():
    """Everything logged at any level, as the app's redacting console handler writes it,
    and the raw messages before redaction."""
    stream, raw = io.StringIO(), []
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    class Raw(logging.Handler):
        def emit(self, record):
            raw.append(record.getMessage())

    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    root.addHandler(raw_handler := Raw())
    yield lambda: stream.getvalue() + "\n".join(raw)
    root.removeHandler(handler)
    root.removeHandler(raw_handler)
    root.setLevel(previous)


def test_no_secret_is_stored_logged_or_rendered(owner_client, owner, upstream, settings, logs):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    pages: list[str] = []

    def see(response):
        pages.append(response.content.decode(errors="replace"))
        pages.append(json.dumps(dict(response.headers)))
        return response

    # The builder: a GPT with an API-key action and an OAuth action.
    see(response := owner_client.post("/gpts/new/", {"name": "Vault", "visibility": "only_me"}))
    gpt_id = response.url.strip("/").split("/")[-1]
    base = f"http://127.0.0.1:{upstream.port}"
    keyed_url = see(
        owner_client.post(
            f"/gpts/{gpt_id}/actions/new/", {"schema_text": schema(base, "K"), "save": "1"}
        )
    ).url
    other = f"http://localhost:{upstream.port}"
    oauth_url = see(
        owner_client.post(
            f"/gpts/{gpt_id}/actions/new/", {"schema_text": schema(other, "O"), "save": "1"}
        )
    ).url
    keyed = Action.objects.get(domain="127.0.0.1")
    oauthed = Action.objects.get(domain="localhost")
    see(
        owner_client.post(
            f"{keyed_url}auth/",
            {
                "auth_type": "api_key",
                "api_key": API_KEY,
                "api_key_auth_type": "custom",
                "custom_header_name": "X-Api-Key",
            },
        )
    )
    see(
        owner_client.post(
            f"{oauth_url}auth/",
            {
                "auth_type": "oauth",
                "client_id": "cid",
                "client_secret": CLIENT_SECRET,
                "authorization_url": f"{other}/authorize",
                "token_url": f"{other}/token",
                "scope": "read",
                "token_exchange_method": "basic_auth_header",
                "revocation_url": f"{other}/revoke",
            },
        )
    )
    for url in (
        keyed_url,
        oauth_url,
        f"{keyed_url}auth/",
        f"{oauth_url}auth/",
        f"/gpts/{gpt_id}/",
        "/gpts/",
    ):
        see(owner_client.get(url))

    # The end user: run the API-key action, sign in to the OAuth one, run it, refresh, sign out.
    upstream.route(
        "/token",
        200,
        json.dumps({"access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3600}),
    )
    upstream.route("/v1", 200, '{"ok": true}')
    upstream.route("/revoke", 200, "")
    see(owner_client.get(f"/g/{gpt_id}/"))
    see(
        owner_client.post(
            f"/g/{gpt_id}/run/getForecastK/", {"action": keyed.id, "arg-city": "Oslo"}
        )
    )
    assert upstream.requests[-1].headers["X-Api-Key"] == API_KEY
    start = see(
        owner_client.post(f"/aip/{gpt_id}/actions/{oauthed.id}/sign-in/", {"next": f"/g/{gpt_id}/"})
    )
    state = parse_qs(urlsplit(start.url).query)["state"][0]
    see(owner_client.get(f"/aip/{gpt_id}/oauth/callback", {"code": "the-code", "state": state}))
    exchange = parse_qs(upstream.requests[-1].body.decode())
    verifier = exchange["code_verifier"][0]
    see(
        owner_client.post(
            f"/g/{gpt_id}/run/getForecastO/", {"action": oauthed.id, "arg-city": "Oslo"}
        )
    )
    assert upstream.requests[-1].headers["Authorization"] == f"Bearer {ACCESS}"
    upstream.route(
        "/token",
        200,
        json.dumps({"access_token": ACCESS_2, "refresh_token": REFRESH_2, "expires_in": 3600}),
    )
    Connection.objects.update(expires_at="2000-01-01T00:00:00Z")  # expired: the next call refreshes
    see(
        owner_client.post(
            f"/api/v1/gpts/{gpt_id}/invoke",
            {"operation": "getForecastO", "arguments": {"city": "Rome"}},
            content_type="application/json",
        )
    )
    assert upstream.requests[-1].headers["Authorization"] == f"Bearer {ACCESS_2}"
    see(owner_client.get("/connections/"))
    dump_while_connected = database_dump()
    see(owner_client.post(f"/connections/{Connection.objects.get().pk}/sign-out/", follow=True))
    assert any(r.path == "/revoke" for r in upstream.requests)

    planted = {
        "API key": API_KEY,
        "client secret": CLIENT_SECRET,
        "access token": ACCESS,
        "refresh token": REFRESH,
        "new access token": ACCESS_2,
        "new refresh token": REFRESH_2,
        "PKCE verifier": verifier,
    }
    places = {
        "database (connected)": dump_while_connected,
        "database (after sign-out)": database_dump(),
        "logs": logs(),
        "pages": "\n".join(pages),
    }
    hits = [
        f"{what} in {where}"
        for where, text in places.items()
        for what, secret in planted.items()
        if secret in text
    ]
    assert hits == []
    assert len(pages) > 30  # the search covered the pages really seen
