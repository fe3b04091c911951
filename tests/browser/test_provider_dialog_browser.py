"""The OAuth dialog's Apply and Fetch in Chromium, with and without JavaScript."""

import pytest

from actions.models import Action
from actions.schemas import save_action_schema
from tests.browser.test_editor_browser import sign_in
from tests.conformance.fake_provider import Behaviour, FakeProvider
from tests.schemas import with_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake():
    provider = FakeProvider(Behaviour(discovery="rfc8414", send_iss=True))
    yield provider
    provider.close()


def open_dialog(page, live_server, owner, action):
    sign_in(page, live_server, owner.username)
    page.goto(f"{live_server.url}/gpts/{action.gpt_id}/actions/{action.id}/auth/")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_apply_fills_the_dialog_and_enter_in_a_field_saves(
    browser, live_server, owner, gpt, javascript
):
    action, _ = save_action_schema(gpt=gpt, text=with_server("https://api.dropboxapi.com/2"))
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    open_dialog(page, live_server, owner, action)
    page.get_by_label("OAuth", exact=True).check()
    page.get_by_label("Provider preset").select_option("dropbox")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Filled in from the Dropbox preset").wait_for()
    assert page.get_by_label("Token URL").input_value() == "https://api.dropboxapi.com/oauth2/token"
    assert (
        "token_access_type=offline"
        in page.get_by_label("Extra authorization parameters").input_value()
    )  # noqa: E501
    page.get_by_label("Client ID").fill("app-key")
    page.get_by_label("Client Secret").fill("app-secret")
    page.get_by_label("Client ID").press("Enter")  # the form's default button: Save
    page.get_by_text("Authentication set to OAuth").wait_for()
    action.refresh_from_db()
    assert (action.preset, action.client_id) == ("dropbox", "app-key")
    assert action.extra_authorization_params == "token_access_type=offline"
    context.close()


def test_enter_in_the_issuer_field_fetches(page, live_server, owner, gpt, settings, fake):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    action, _ = save_action_schema(gpt=gpt, text=with_server(fake.url("/api")))
    open_dialog(page, live_server, owner, action)
    page.get_by_label("OAuth", exact=True).check()
    page.get_by_label("Issuer", exact=True).fill(fake.issuer)
    page.get_by_label("Issuer", exact=True).press("Enter")
    page.get_by_text("Review the fields, then Save").wait_for()
    assert page.get_by_label("Authorization URL").input_value() == fake.issuer + "/authorize"
    assert Action.objects.get(pk=action.pk).auth_type == "none"  # Fetch saves nothing
