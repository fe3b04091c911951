"""Rate limits per user: 429 with Retry-After in the API, a readable page in the browser."""

import pytest
from django.core.cache import cache

from actions.schemas import save_action_schema
from config.env import Rate
from tests.schemas import with_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def tight_limits(settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    settings.ACTIONS_RATE_LIMITS = {"invoke": Rate(2, 60), "sign_in": Rate(1, 60)}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def action(gpt, upstream):
    action, _ = save_action_schema(gpt=gpt, text=with_server(upstream.url("/v1")))
    return action


def invoke(client, gpt):
    return client.post(
        f"/api/v1/gpts/{gpt.id}/invoke",
        {"operation": "getForecast", "arguments": {"city": "Oslo"}},
        content_type="application/json",
    )


def test_the_api_answers_429_with_retry_after(
    owner_client, gpt, action, upstream, outsider, client
):
    assert [invoke(owner_client, gpt).status_code for _ in range(2)] == [200, 200]
    response = invoke(owner_client, gpt)
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert len(upstream.requests) == 2
    # Per user: someone else still gets through.
    gpt.visibility = "link"
    gpt.save()
    client.force_login(outsider)
    assert invoke(client, gpt).status_code == 200


def test_the_gpt_page_shows_a_readable_page(owner_client, gpt, action, upstream):
    url = f"/g/{gpt.id}/run/getForecast/"
    for _ in range(2):
        assert owner_client.post(url, {"action": action.id, "arg-city": "Oslo"}).status_code == 200
    response = owner_client.post(url, {"action": action.id, "arg-city": "Oslo"})
    assert response.status_code == 429 and "Retry-After" in response
    assert "Too many runs" in response.content.decode()
    assert len(upstream.requests) == 2


def test_starting_sign_ins_is_limited(owner_client, gpt, action):
    action.auth_type, action.client_id, action.client_secret = "oauth", "c", "s"
    action.authorization_url = action.token_url = "http://127.0.0.1:9/x"
    action.save()
    url = f"/aip/{gpt.id}/actions/{action.id}/sign-in/"
    assert owner_client.post(url).status_code == 302
    response = owner_client.post(url)
    assert response.status_code == 429 and "Too many sign-ins" in response.content.decode()


def test_a_rate_setting_must_be_well_formed(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_rate

    monkeypatch.setenv("SOME_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="must look like 60/minute"):
        env_rate("SOME_RATE", "1/minute")
    monkeypatch.setenv("SOME_RATE", "off")
    assert env_rate("SOME_RATE", "1/minute") is None
    monkeypatch.setenv("SOME_RATE", "30/hour")
    assert env_rate("SOME_RATE", "1/minute") == Rate(30, 3600)
