"""The editor's Test button (to the GPT page) and the Activity list of a GPT's runs."""

import pytest
from django.urls import reverse

from actions.models import CallRecord
from actions.schemas import save_action_schema
from tests.schemas import with_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def action(gpt, upstream, settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    action, _ = save_action_schema(gpt=gpt, text=with_server(upstream.url("/v1")))
    return action


def test_it_links_each_operation_to_the_gpt_page(owner_client, gpt, action):
    page = owner_client.get(reverse("editor:action-edit", args=[gpt.id, action.id])).content
    for op in action.operations.all():
        link = f'href="/g/{gpt.id}/#op-{op.operation_id}" aria-describedby="op-name-{op.id}">Test'
        assert link.encode() in page
        assert f'<code id="op-name-{op.id}">{op.operation_id}</code>'.encode() in page
    gpt_page = owner_client.get(f"/g/{gpt.id}/").content
    assert b'id="op-getForecast"' in gpt_page


def test_it_links_the_gpt_page_from_the_editor(owner_client, gpt):
    page = owner_client.get(reverse("editor:gpt-edit", args=[gpt.id])).content.decode()
    assert f'<a class="btn" href="/g/{gpt.id}/">Open GPT page</a>' in page


def test_it_shows_an_empty_activity_list(owner_client, gpt):
    page = owner_client.get(reverse("editor:gpt-edit", args=[gpt.id])).content.decode()
    assert "Activity" in page and "No runs yet." in page


def test_it_lists_a_run_in_activity(owner_client, gpt, action, upstream):
    upstream.reply_with(200, '{"secret_body": "not-for-the-list"}')
    owner_client.post(reverse("run-operation", args=[gpt.id, "getForecast"]), {"arg-city": "Oslo"})
    owner_client.post(reverse("run-operation", args=[gpt.id, "getForecast"]), {"arg-city": ""})
    page = owner_client.get(reverse("editor:gpt-edit", args=[gpt.id])).content.decode()
    assert "No runs yet." not in page
    assert "<td><code>getForecast</code></td>" in page
    assert "<td>alice</td>" in page and "<td>browser</td>" in page and "<td>200</td>" in page
    assert '<span class="outcome outcome-ok">Succeeded</span>' in page
    assert "not-for-the-list" not in page and "Oslo" not in page
    assert CallRecord.objects.count() == 1  # an invalid form sends and records nothing


def test_it_shows_only_the_latest_50_runs(owner_client, gpt, action):
    op = action.operations.get(operation_id="getForecast")
    CallRecord.objects.bulk_create(
        CallRecord(gpt=gpt, operation=op, operation_name="old", client="browser", outcome="ok")
        for _ in range(55)
    )
    page = owner_client.get(reverse("editor:gpt-edit", args=[gpt.id])).content.decode()
    assert page.count("<td><code>old</code></td>") == 50


def test_it_hides_activity_from_outsiders(client, outsider, gpt, action):
    CallRecord.objects.create(gpt=gpt, operation_name="getForecast", client="browser", outcome="ok")
    client.force_login(outsider)
    assert client.get(reverse("editor:gpt-edit", args=[gpt.id])).status_code == 404
