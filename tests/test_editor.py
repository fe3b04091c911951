"""The builder's editor as a builder sees it: pages, forms, redirects and stored rows."""

import json

import pytest
import yaml
from django.urls import reverse

from actions.models import GPT, Action, Operation
from tests.schemas import WEATHER, with_server

pytestmark = pytest.mark.django_db

API_KEY = "sk-test-planted-api-key-0001"
CLIENT_SECRET = "planted-client-secret-0002"


@pytest.fixture
def action(gpt):
    from actions.schemas import save_action_schema

    action, _ = save_action_schema(gpt=gpt, text=WEATHER)
    return action


def auth_url(action):
    return reverse("editor:action-auth", args=[action.gpt_id, action.id])


def oauth_post(**overrides):
    data = {
        "auth_type": "oauth",
        "client_id": "client-123",
        "client_secret": CLIENT_SECRET,
        "authorization_url": "https://auth.weather.example.com/authorize",
        "token_url": "https://auth.weather.example.com/token",
        "scope": "read write",
        "token_exchange_method": "default_post",
    }
    data.update(overrides)
    return data


# --- access --------------------------------------------------------------------------------


def test_it_sends_anonymous_users_to_sign_in(client):
    response = client.get(reverse("editor:gpt-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_signs_in_with_the_form(client, owner):
    from tests.conftest import PASSWORD

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    page = client.get(reverse("editor:gpt-list"))
    assert b"My GPTs" in page.content and b"Connections" in page.content


def test_it_hides_other_builders_gpts(client, outsider, gpt, action):
    client.force_login(outsider)
    assert gpt.name.encode() not in client.get(reverse("editor:gpt-list")).content
    for url in (
        reverse("editor:gpt-edit", args=[gpt.id]),
        reverse("editor:action-create", args=[gpt.id]),
        reverse("editor:action-edit", args=[gpt.id, action.id]),
        auth_url(action),
    ):
        assert client.get(url).status_code == 404
    assert client.post(reverse("editor:gpt-delete", args=[gpt.id])).status_code == 404
    assert client.post(auth_url(action), {"auth_type": "none"}).status_code == 404
    assert GPT.objects.filter(id=gpt.id).exists()


def test_it_rejects_a_post_without_csrf_token(owner, gpt):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("editor:gpt-delete", args=[gpt.id]))
    assert response.status_code == 403
    assert GPT.objects.filter(id=gpt.id).exists()


# --- GPTs ----------------------------------------------------------------------------------


def test_it_creates_a_gpt_with_a_public_id(owner_client, owner):
    response = owner_client.post(
        reverse("editor:gpt-create"),
        {"name": "Travel", "description": "Trips", "visibility": "link"},
    )
    gpt = GPT.objects.get(owner=owner, name="Travel")
    assert response.status_code == 302 and response.url == gpt.get_absolute_url()
    assert gpt.id.startswith("g-") and len(gpt.id) == 12
    assert b"Travel" in owner_client.get(reverse("editor:gpt-list")).content


def test_it_shows_form_errors_for_a_gpt_without_name(owner_client):
    response = owner_client.post(reverse("editor:gpt-create"), {"name": "", "visibility": "x"})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not GPT.objects.exists()


# --- schemas -------------------------------------------------------------------------------


def test_it_creates_an_action_from_a_pasted_schema(owner_client, gpt):
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]), {"schema_text": WEATHER, "save": "1"}
    )
    action = Action.objects.get(gpt=gpt)
    assert response.status_code == 302
    assert action.domain == "api.weather.example.com"
    assert action.server_url == "https://api.weather.example.com/v1"
    page = owner_client.get(response.url)
    assert b"Available actions" in page.content
    assert b"getForecast" in page.content and b"createAlert" in page.content
    ops = {op.operation_id: op for op in Operation.objects.filter(action=action)}
    assert ops["getForecast"].method == "GET" and not ops["getForecast"].is_consequential
    assert ops["createAlert"].is_consequential


def test_it_keeps_the_typed_schema_when_it_is_invalid(owner_client, gpt):
    broken = WEATHER.replace("      operationId: createAlert\n", "")
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]), {"schema_text": broken, "save": "1"}
    )
    assert response.status_code == 200
    assert b"The schema was not saved" in response.content
    assert b"paths./alerts.post.operationId" in response.content
    # The text is still in the box, exactly as typed (HTML-escaped).
    assert response.context["form"]["schema_text"].value() == broken
    assert not Action.objects.exists()


def test_it_names_the_line_of_a_yaml_syntax_error(owner_client, gpt):
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]),
        {"schema_text": "openapi: 3.1.0\ninfo: [unclosed\n", "save": "1"},
    )
    assert response.status_code == 200
    assert b"line " in response.content


def test_it_refuses_a_second_action_on_the_same_domain(owner_client, gpt, action):
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]), {"schema_text": WEATHER, "save": "1"}
    )
    assert response.status_code == 200
    assert b"already has an action for api.weather.example.com" in response.content
    assert gpt.actions.count() == 1


def test_it_refuses_an_operation_id_another_action_of_the_gpt_uses(owner_client, gpt, action):
    other = with_server("https://calendar.example.org")
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]), {"schema_text": other, "save": "1"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "paths./forecast.get.operationId" in html
    assert "getForecast is already an operation of the action for api.weather.example.com" in html
    assert gpt.actions.count() == 1


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "/forecast",
            "/forecast/" + "p" * 1_991,
            "paths./forecast/" + "p" * 50 + "…</code> The path is 2,001 characters long; "
            "the limit is 2,000.",
        ),
        ("/v1", "/" + "v" * 500, "The server URL is 532 characters long; the limit is 500."),
        (
            "application/json",
            "application/vnd." + "x" * 80 + "+json",
            "The media type is 101 characters long; the limit is 100.",
        ),
    ],
    ids=["path", "server-url", "media-type"],
)
def test_it_names_a_schema_part_too_long_to_store(owner_client, gpt, old, new, problem):
    text = json.dumps(yaml.safe_load(WEATHER)).replace(old, new)  # YAML keys stop at 1024
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]), {"schema_text": text, "save": "1"}
    )
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert not gpt.actions.exists()


def test_it_keeps_the_stored_schema_when_an_edit_is_invalid(owner_client, action):
    url = reverse("editor:action-edit", args=[action.gpt_id, action.id])
    response = owner_client.post(url, {"schema_text": "{not json", "save": "1"})
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.schema_text == WEATHER
    assert action.operations.count() == 2


def test_it_drops_credentials_when_the_api_moves_to_another_domain(owner_client, action):
    owner_client.post(
        auth_url(action),
        {"auth_type": "api_key", "api_key": API_KEY, "api_key_auth_type": "bearer"},
    )
    url = reverse("editor:action-edit", args=[action.gpt_id, action.id])
    moved = with_server("https://api.other-weather.example.org")
    response = owner_client.post(url, {"schema_text": moved, "save": "1"}, follow=True)
    action.refresh_from_db()
    assert action.domain == "api.other-weather.example.org"
    assert action.auth_type == "none" and action.api_key == ""
    assert b"authentication settings were removed" in response.content


def test_it_explains_an_empty_schema(owner_client, gpt):
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]), {"schema_text": "  ", "save": "1"}
    )
    assert b"Paste an OpenAPI schema" in response.content


def test_it_imports_a_schema_from_a_url_into_the_box(owner_client, gpt, settings, upstream):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    upstream.reply_with(200, WEATHER, content_type="application/yaml")
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]),
        {"import_url": upstream.url("/openapi.yaml"), "schema_text": "", "import": "1"},
    )
    assert response.status_code == 200
    assert response.context["form"]["schema_text"].value() == WEATHER
    assert not Action.objects.exists()  # importing fills the box; saving is the builder's choice


def test_it_refuses_to_import_from_a_private_address(owner_client, gpt, settings, upstream):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False
    response = owner_client.post(
        reverse("editor:action-create", args=[gpt.id]),
        {"import_url": upstream.url("/openapi.yaml"), "schema_text": "kept", "import": "1"},
    )
    assert response.status_code == 200
    assert b"Could not import" in response.content
    assert response.context["form"]["schema_text"].value() == "kept"
    assert upstream.requests == []


# --- the Authentication dialog -------------------------------------------------------------


def test_it_labels_every_dialog_field(owner_client, action):
    html = owner_client.get(auth_url(action)).content.decode()
    for label in (
        "None",
        "API Key",
        "OAuth",
        "Auth Type",
        "Basic",
        "Bearer",
        "Custom",
        "Custom Header Name",
        "Client ID",
        "Client Secret",
        "Authorization URL",
        "Token URL",
        "Scope",
        "Token Exchange Method",
        "Default (POST request)",
        "Basic authorization header",
    ):
        assert f">{label}</" in html or f"<span>{label}</span>" in html, label
    assert 'for="id_client_secret"' in html and 'id="id_client_secret"' in html


def test_it_saves_an_api_key_and_never_renders_it(owner_client, action):
    response = owner_client.post(
        auth_url(action),
        {
            "auth_type": "api_key",
            "api_key": API_KEY,
            "api_key_auth_type": "custom",
            "custom_header_name": "X-Api-Key",
        },
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.api_key == API_KEY and action.custom_header_name == "X-Api-Key"
    for url in (auth_url(action), response.url):
        page = owner_client.get(url).content.decode()
        assert API_KEY not in page
    assert "stored" in owner_client.get(auth_url(action)).content.decode()


def test_it_stores_the_api_key_encrypted(owner_client, action):
    from django.db import connection

    owner_client.post(
        auth_url(action), {"auth_type": "api_key", "api_key": API_KEY, "api_key_auth_type": "basic"}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM actions_action WHERE id = %s", [action.id])
        (raw,) = cursor.fetchone()
    assert raw and API_KEY not in raw


def test_it_keeps_a_stored_secret_when_left_blank(owner_client, action):
    owner_client.post(auth_url(action), oauth_post())
    response = owner_client.post(auth_url(action), oauth_post(client_secret="", scope="read"))
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.client_secret == CLIENT_SECRET and action.scope == "read"


def test_it_requires_the_secret_when_none_is_stored(owner_client, action):
    response = owner_client.post(auth_url(action), oauth_post(client_secret=""))
    assert response.status_code == 200
    assert b"Client Secret is required" in response.content


def test_it_deletes_old_secrets_when_switching_scheme(owner_client, action):
    owner_client.post(auth_url(action), oauth_post())
    owner_client.post(
        auth_url(action),
        {"auth_type": "api_key", "api_key": API_KEY, "api_key_auth_type": "bearer"},
    )
    action.refresh_from_db()
    assert action.client_secret == "" and action.client_id == "" and action.token_url == ""
    # Back to OAuth: the old client secret is gone, so a blank one is refused.
    response = owner_client.post(auth_url(action), oauth_post(client_secret=""))
    assert b"Client Secret is required" in response.content
    owner_client.post(auth_url(action), {"auth_type": "none"})
    action.refresh_from_db()
    assert action.api_key == "" and action.auth_type == "none"


def test_it_shows_the_callback_url_after_saving_oauth(owner_client, action, settings):
    response = owner_client.post(auth_url(action), oauth_post(), follow=True)
    html = response.content.decode()
    assert "Callback URL" in html
    assert f"{settings.SITE_URL}/aip/{action.gpt_id}/oauth/callback" in html
    assert CLIENT_SECRET not in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("authorization_url", "http://auth.weather.example.com/authorize", "must use https://"),
        ("token_url", "ftp://auth.weather.example.com/token", "must use https://"),
        ("token_url", "https://evil.example.net/token", "must share the domain"),
        ("authorization_url", "not a url", "absolute URL"),
        ("client_id", "", "Client ID is required"),
    ],
)
def test_it_validates_oauth_fields(owner_client, action, field, value, message):
    response = owner_client.post(auth_url(action), oauth_post(**{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    action.refresh_from_db()
    assert action.auth_type == "none"


def test_it_allows_well_known_identity_providers(owner_client, action):
    response = owner_client.post(
        auth_url(action),
        oauth_post(
            authorization_url="https://accounts.google.com/o/oauth2/auth",
            token_url="https://oauth2.googleapis.com/token",
        ),
    )
    assert response.status_code == 302


def test_it_allows_an_extra_identity_provider_from_settings(owner_client, action, settings):
    settings.ACTIONS_IDENTITY_PROVIDERS = [*settings.ACTIONS_IDENTITY_PROVIDERS, "okta.com"]
    response = owner_client.post(
        auth_url(action), oauth_post(token_url="https://dev-1.okta.com/oauth2/v1/token")
    )
    assert response.status_code == 302


def test_it_allows_loopback_http_only_when_private_networks_are_allowed(
    owner_client, gpt, settings
):
    from actions.schemas import save_action_schema

    local, _ = save_action_schema(gpt=gpt, text=with_server("http://127.0.0.1:8000/demo/api"))
    data = oauth_post(
        authorization_url="http://127.0.0.1:8000/o/authorize/",
        token_url="http://127.0.0.1:8000/o/token/",
    )
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False
    assert b"ACTIONS_ALLOW_PRIVATE_NETWORKS" in owner_client.post(auth_url(local), data).content
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    assert owner_client.post(auth_url(local), data).status_code == 302


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("X Api Key", "not a valid HTTP header name"),
        ("X-Key:", "not a valid HTTP header name"),
        ("Host", "used by HTTP itself"),
        ("Transfer-Encoding", "used by HTTP itself"),
        ("", "Custom Header Name is required"),
    ],
)
def test_it_validates_the_custom_header_name(owner_client, action, header, message):
    response = owner_client.post(
        auth_url(action),
        {
            "auth_type": "api_key",
            "api_key": API_KEY,
            "api_key_auth_type": "custom",
            "custom_header_name": header,
        },
    )
    assert response.status_code == 200
    assert message in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (oauth_post(client_id="client\n123"), "Client ID cannot contain line breaks"),
        (oauth_post(client_secret="sec\x00ret"), "Client Secret cannot contain line breaks"),
        (oauth_post(scope="read\twrite"), "Scope cannot contain line breaks or control"),
        (oauth_post(client_id="c" * 501), "Client ID is 501 characters long; the limit is 500."),
        (
            {"auth_type": "api_key", "api_key": "key\x7f", "api_key_auth_type": "bearer"},
            "API Key cannot contain line breaks or control characters.",
        ),
    ],
    ids=["client-id-line-break", "secret-nul", "scope-tab", "long-client-id", "key-delete"],
)
def test_it_refuses_what_would_break_every_request(owner_client, action, data, message):
    response = owner_client.post(auth_url(action), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    action.refresh_from_db()
    assert action.auth_type == "none"


def test_it_rejects_an_unknown_scheme(owner_client, action):
    response = owner_client.post(auth_url(action), {"auth_type": "magic"})
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content or b"must be one of" in response.content


# --- admin ---------------------------------------------------------------------------------


def test_it_never_shows_secrets_in_the_admin(client, django_user_model, action):
    from actions.models import Connection, PendingSignIn

    action.auth_type = "api_key"
    action.api_key = API_KEY
    action.save()
    connection = Connection.objects.create(
        user=action.gpt.owner,
        action=action,
        access_token="planted-access",
        refresh_token="planted-refresh",
    )
    pending = PendingSignIn.objects.create(
        user=action.gpt.owner, action=action, state_hash="h" * 64, code_verifier="planted-verifier"
    )
    staff = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(staff)
    for url in (
        reverse("admin:actions_action_change", args=[action.id]),
        reverse("admin:actions_action_changelist"),
        reverse("admin:actions_gpt_change", args=[action.gpt_id]),
        reverse("admin:actions_connection_change", args=[connection.id]),
        reverse("admin:actions_connection_changelist"),
        reverse("admin:actions_pendingsignin_change", args=[pending.id]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        for secret in (API_KEY, "planted-access", "planted-refresh", "planted-verifier"):
            assert secret not in page
