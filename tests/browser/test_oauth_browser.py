"""An end user in Chromium: Sign in to [domain], approve at the bundled provider, see the result."""

import pytest
from django.core.management import call_command

from actions.models import GPT, Connection
from tests.browser.test_editor_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_signs_in_approves_and_sees_the_call_succeed(page, live_server, settings, owner):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    settings.SITE_URL = live_server.url
    call_command("load_demo", stdout=open("/dev/null", "w"))
    gpt = GPT.objects.get(name="Demo GPT")
    domain = gpt.actions.get(auth_type="oauth").domain

    sign_in(page, live_server, owner.username)
    page.goto(f"{live_server.url}/g/{gpt.id}/")
    card = page.locator("#op-getMyProfile")
    card.get_by_role("button", name=f"Sign in to {domain}").click()
    # Our page: which GPT asks, for which scopes.
    page.get_by_text(f"{gpt.name} wants to use {domain}").wait_for()
    page.get_by_role("button", name=f"Sign in to {domain}").click()
    # The provider's consent page.
    page.get_by_role("button", name="Authorize").click()
    # Back on the GPT page, the asked-for operation ran with the user's token.
    result = page.locator("#op-getMyProfile pre")
    result.wait_for()
    assert f'"username": "{owner.username}"' in result.inner_text()
    assert Connection.objects.filter(user=owner, action__gpt=gpt).exists()
    page.goto(f"{live_server.url}/connections/")
    assert page.get_by_role("cell", name=domain).first.is_visible()
