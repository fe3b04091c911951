"""A builder in a real browser: create a GPT, paste a schema, set OAuth, read the Callback URL."""

import pytest

from actions.models import Action
from tests.conftest import PASSWORD
from tests.schemas import WEATHER

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My GPTs").wait_for()


def test_it_sets_up_oauth_and_shows_the_callback_url(page, live_server, owner, settings):
    sign_in(page, live_server, owner.username)

    page.get_by_role("link", name="Create a GPT").first.click()
    page.get_by_label("Name").fill("Weather helper")
    page.get_by_label("Description").fill("Forecasts on demand")
    page.get_by_role("button", name="Create").click()

    page.get_by_role("link", name="Create new action").click()
    page.get_by_label("Schema").fill(WEATHER)
    page.get_by_role("button", name="Save schema").click()
    page.get_by_role("heading", name="Available actions").wait_for()
    assert page.get_by_role("cell", name="getForecast").first.is_visible()

    page.get_by_role("link", name="Edit authentication").click()
    page.wait_for_load_state()
    # With JavaScript, only the chosen scheme's fields show.
    assert not page.get_by_label("Client ID").is_visible()
    page.get_by_label("OAuth", exact=True).check()
    page.get_by_label("Client ID").fill("client-123")
    page.get_by_label("Client Secret").fill("browser-planted-secret")
    page.get_by_label("Authorization URL").fill("https://auth.weather.example.com/authorize")
    page.get_by_label("Token URL").fill("https://auth.weather.example.com/token")
    page.get_by_label("Scope").fill("read")
    page.get_by_label("Basic authorization header").check()
    page.get_by_role("button", name="Save").click()

    callback = page.get_by_label("Callback URL")
    action = Action.objects.get(gpt__owner=owner)
    assert callback.input_value() == f"{settings.SITE_URL}/aip/{action.gpt_id}/oauth/callback"
    assert action.client_secret == "browser-planted-secret"
    assert action.token_exchange_method == "basic_auth_header"

    # The stored secret never comes back to the browser.
    page.get_by_role("link", name="Edit authentication").click()
    assert "browser-planted-secret" not in page.content()
    assert page.get_by_label("Client Secret").input_value() == ""


def test_the_dialog_works_without_javascript(browser, live_server, owner, gpt):
    from actions.schemas import save_action_schema

    action, _ = save_action_schema(gpt=gpt, text=WEATHER)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server, owner.username)
    page.goto(f"{live_server.url}/gpts/{gpt.id}/actions/{action.id}/auth/")
    assert page.get_by_label("Client ID").is_visible()  # every choice renders
    page.get_by_label("API Key", exact=True).first.check()
    page.get_by_label("Bearer").check()
    page.locator("#id_api_key").fill("nojs-key")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Authentication set to API Key (Bearer)").wait_for()
    context.close()
