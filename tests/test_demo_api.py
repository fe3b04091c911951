"""The bundled demo API: a fake third-party service that `make run` serves for trying actions."""

import stat

import pytest

from actions.openapi import parse_schema
from demo.keys import demo_api_key

KEY = "test-demo-key-0123456789"


@pytest.fixture(autouse=True)
def demo_key(monkeypatch):
    monkeypatch.setenv("DEMO_API_KEY", KEY)


def test_it_forecasts_the_same_way_for_the_same_city(client):
    first = client.get("/demo/api/forecast", {"city": "Paris", "days": 5})
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    body = first.json()
    assert body["city"] == "Paris"
    assert [day["day"] for day in body["days"]] == [1, 2, 3, 4, 5]
    for day in body["days"]:
        assert day["summary"]
        assert day["low_c"] < day["high_c"]
    assert client.get("/demo/api/forecast", {"city": "Paris", "days": 5}).json() == body
    assert (
        client.get("/demo/api/forecast", {"city": "Oslo", "days": 5}).json()["days"]
        != (body["days"])
    )


def test_it_forecasts_three_days_by_default(client):
    response = client.get("/demo/api/forecast", {"city": "Lima"})
    assert len(response.json()["days"]) == 3


def test_it_requires_a_city(client):
    for query in ({}, {"city": "  "}):
        response = client.get("/demo/api/forecast", query)
        assert response.status_code == 400
        assert response.json() == {"error": "city is required"}


@pytest.mark.parametrize("days", ["0", "8", "three", "2.5", ""])
def test_it_refuses_bad_days(client, days):
    response = client.get("/demo/api/forecast", {"city": "Paris", "days": days})
    assert response.status_code == 400
    assert "days" in response.json()["error"]


def test_it_refuses_the_vault_without_the_key(client):
    response = client.get("/demo/api/vault/message")
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong X-Demo-Key"}


def test_it_refuses_the_vault_with_a_wrong_key(client):
    for wrong in ("nope", KEY + "x", f"Bearer {KEY}", "é"):
        response = client.get("/demo/api/vault/message", headers={"X-Demo-Key": wrong})
        assert response.status_code == 401


def test_it_refuses_the_key_in_another_header(client):
    response = client.get("/demo/api/vault/message", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 401


def test_it_opens_the_vault_with_the_key(client):
    response = client.get("/demo/api/vault/message", headers={"X-Demo-Key": KEY})
    assert response.status_code == 200
    assert response.json() == {"message": "The vault is open.", "key_header_seen": True}


def _post_note(client, body, key=KEY, content_type="application/json"):
    return client.post(
        "/demo/api/vault/notes", body, content_type=content_type, headers={"X-Demo-Key": key}
    )


def test_it_creates_notes(client):
    first = _post_note(client, {"text": "Remember the milk"})
    assert first.status_code == 201
    note = first.json()
    assert note["text"] == "Remember the milk"
    assert isinstance(note["id"], int)
    assert note["created"].startswith("20")
    assert _post_note(client, {"text": "And eggs"}).json()["id"] > note["id"]


def test_it_creates_notes_without_a_csrf_token(client):
    client.handler.enforce_csrf_checks = True
    assert _post_note(client, {"text": "Server to server"}).status_code == 201


def test_it_checks_the_key_before_the_note(client):
    assert _post_note(client, {"text": "hi"}, key="wrong").status_code == 401
    assert _post_note(client, "not json", key="wrong").status_code == 401


@pytest.mark.parametrize(
    "body, error",
    [
        ("not json", "the body must be JSON"),
        ('["text"]', "text is required"),
        ("{}", "text is required"),
        ('{"text": 42}', "text is required"),
        ('{"text": "  "}', "text is required"),
        ('{"text": "' + "x" * 501 + '"}', "text must be at most 500 characters"),
    ],
)
def test_it_validates_notes(client, body, error):
    response = _post_note(client, body)
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_it_refuses_other_methods(client):
    assert client.get("/demo/api/vault/notes", headers={"X-Demo-Key": KEY}).status_code == 405
    assert client.post("/demo/api/forecast", {"city": "Paris"}).status_code == 405


def test_it_echoes_header_names_but_not_values(client):
    response = client.get(
        "/demo/api/echo?a=1&b=2&b=3",
        headers={"X-Custom-Thing": "secret-value-123", "Authorization": "Bearer tok-456"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "GET"
    assert body["query"] == {"a": "1", "b": ["2", "3"]}
    assert "X-Custom-Thing" in body["header_names"]
    assert "Authorization" in body["header_names"]
    assert body["authorization_present"] is True
    assert b"secret-value-123" not in response.content
    assert b"tok-456" not in response.content


def test_it_echoes_that_no_authorization_arrived(client):
    assert client.get("/demo/api/echo").json()["authorization_present"] is False


@pytest.mark.parametrize(
    "url, operation_ids",
    [
        ("/demo/api/public.yaml", ["getForecast", "echoRequest"]),
        ("/demo/api/vault.yaml", ["getVaultMessage", "createVaultNote"]),
    ],
)
def test_it_serves_schemas_the_importer_accepts(client, url, operation_ids):
    response = client.get(url, HTTP_HOST="weather.localhost:8000")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    parsed = parse_schema(response.content.decode())
    assert [op.operation_id for op in parsed.operations] == operation_ids
    assert parsed.server_url == "http://weather.localhost:8000/demo/api"
    assert parsed.domain == "weather.localhost"
    assert parsed.warnings == []


def test_it_describes_the_forecast_parameters_and_the_note_body(client):
    public = parse_schema(client.get("/demo/api/public.yaml").content.decode())
    city, days = public.operations[0].parameters
    assert (city["name"], city["in"], city["required"]) == ("city", "query", True)
    assert (days["name"], days["required"], days["schema"]["type"]) == ("days", False, "integer")
    assert (days["schema"]["minimum"], days["schema"]["maximum"]) == (1, 7)
    vault = parse_schema(client.get("/demo/api/vault.yaml").content.decode())
    note = vault.operations[1]
    assert note.method == "POST" and note.request_body_required
    assert note.request_body["required"] == ["text"]
    assert note.is_consequential


def test_it_generates_the_key_once_into_the_local_folder(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("DEMO_API_KEY")
    settings.LOCAL_DIR = tmp_path / ".local"
    key = demo_api_key()
    assert len(key) >= 32
    assert demo_api_key() == key
    path = settings.LOCAL_DIR / "demo_api_key"
    assert path.read_text() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_it_reads_the_key_from_a_file(monkeypatch, tmp_path):
    monkeypatch.delenv("DEMO_API_KEY")
    (tmp_path / "key").write_text("from-a-file\n")
    monkeypatch.setenv("DEMO_API_KEY_FILE", str(tmp_path / "key"))
    assert demo_api_key() == "from-a-file"
