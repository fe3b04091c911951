"""The end user's GPT page: forms built from parameters, Run, questions and readable failures,
checked against a real recording upstream server."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from actions.models import GPT, Action, AlwaysAllow, CallRecord
from actions.schemas import save_action_schema
from tests.schemas import with_server

pytestmark = pytest.mark.django_db

API_KEY = "sk-test-planted-api-key-0003"

SCHEMA = """\
openapi: 3.1.0
info:
  title: Weather
  version: "1.0"
servers:
  - url: https://api.weather.example.com/v1
paths:
  /forecast:
    get:
      operationId: getForecast
      summary: Forecast for a city
      parameters:
        - name: city
          in: query
          required: true
          description: The city's name, in English
          schema: {type: string}
        - name: days
          in: query
          schema: {type: integer, minimum: 1}
        - name: units
          in: query
          schema: {type: string, enum: [metric, imperial]}
        - name: hourly
          in: query
          schema: {type: boolean}
        - name: fields
          in: query
          schema: {type: array, items: {type: string}}
      responses:
        "200": {description: OK}
  /alerts:
    post:
      operationId: createAlert
      summary: Subscribe to alerts
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                city: {type: string}
                level: {type: integer}
      responses:
        "201": {description: Created}
  /alerts/{alertId}:
    delete:
      operationId: deleteAlert
      x-openai-isConsequential: true
      parameters:
        - name: alertId
          in: path
          required: true
          schema: {type: string}
      responses:
        "204": {description: Deleted}
"""


@pytest.fixture
def action(gpt, upstream, settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    action, _ = save_action_schema(gpt=gpt, text=with_server(upstream.url("/v1"), SCHEMA))
    return action


def page_url(gpt):
    return reverse("gpt-page", args=[gpt.id])


def run_url(gpt, operation_id):
    return reverse("run-operation", args=[gpt.id, operation_id])


def run(client, gpt, operation_id, **fields):
    data = {f"arg-{name}": value for name, value in fields.items()}
    return client.post(run_url(gpt, operation_id), data)


def text(response) -> str:
    return response.content.decode()


# --- the page ------------------------------------------------------------------------------


def test_it_lists_operations_with_labelled_inputs(owner_client, gpt, action):
    page = text(owner_client.get(page_url(gpt)))
    assert gpt.name in page and gpt.description in page
    assert action.domain in page and "No authentication" in page
    for operation_id in ("getForecast", "createAlert", "deleteAlert"):
        assert f'id="op-{operation_id}"' in page
    assert '<label for="op-getForecast-arg-city">' in page
    assert 'id="op-getForecast-arg-city"' in page and "required" in page
    assert "The city&#x27;s name, in English" in page
    assert 'type="number" name="arg-days"' in page
    assert '<option value="imperial">imperial</option>' in page
    assert '<option value="true">true</option>' in page
    assert "Request body (JSON)" in page
    assert "&quot;city&quot;: &quot;&quot;" in page  # the body's skeleton
    assert 'action="/g/' in page and "/run/getForecast/#op-getForecast" in page


def test_it_sends_anonymous_users_to_sign_in(client, gpt):
    response = client.get(page_url(gpt))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_hides_a_private_gpt_from_others(client, outsider, gpt, action, upstream):
    client.force_login(outsider)
    assert client.get(page_url(gpt)).status_code == 404
    assert run(client, gpt, "getForecast", city="Oslo").status_code == 404
    assert upstream.requests == []


@pytest.mark.parametrize(
    "url",
    ["/g/g-%00/", "/g/{gpt}/run/get%00Forecast/", "/gpts/g-%00/", "/aip/g-%00/oauth/callback"],
)
def test_it_answers_404_for_an_id_with_a_nul(owner_client, gpt, url):
    assert owner_client.get(url.format(gpt=gpt.id)).status_code == 404


def test_it_shows_a_link_shared_gpt_to_others(client, outsider, gpt, action, upstream):
    gpt.visibility = GPT.Visibility.LINK
    gpt.save()
    client.force_login(outsider)
    assert client.get(page_url(gpt)).status_code == 200
    response = run(client, gpt, "getForecast", city="Oslo")
    assert response.status_code == 200
    assert len(upstream.requests) == 1
    assert "Edit GPT" not in text(response)
    assert CallRecord.objects.get().user == outsider


def test_it_rejects_a_run_without_csrf_token(owner, gpt, action, upstream):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(run_url(gpt, "getForecast"), {"arg-city": "Oslo"})
    assert response.status_code == 403
    assert upstream.requests == []


def test_it_sends_a_get_of_the_run_address_to_the_page(owner_client, gpt, action, upstream):
    response = owner_client.get(run_url(gpt, "getForecast"))
    assert response.status_code == 302
    assert response.url == f"{page_url(gpt)}#op-getForecast"
    assert upstream.requests == []


def test_it_answers_404_for_an_unknown_operation(owner_client, gpt, action):
    assert owner_client.post(run_url(gpt, "nope"), {}).status_code == 404


# --- running -------------------------------------------------------------------------------


def test_it_runs_a_get_and_shows_the_formatted_response(owner_client, gpt, action, upstream):
    upstream.reply_with(200, json.dumps({"city": "Oslo", "temperature": 7}))
    response = run(
        owner_client,
        gpt,
        "getForecast",
        city="Oslo",
        days="3",
        units="imperial",
        hourly="true",
        fields="a, b",
    )
    assert response.status_code == 200
    page = text(response)
    assert '<span class="status status-2xx">200</span>' in page
    assert " ms</span>" in page
    assert "{\n  &quot;city&quot;: &quot;Oslo&quot;,\n  &quot;temperature&quot;: 7\n}" in page
    sent = upstream.requests[-1]
    assert sent.method == "GET"
    assert sent.path == "/v1/forecast?city=Oslo&days=3&units=imperial&hourly=true&fields=a&fields=b"
    # What the user typed stays in the form.
    assert 'name="arg-city" value="Oslo"' in page
    assert 'name="arg-days" value="3"' in page
    record = CallRecord.objects.get()
    assert (record.client, record.upstream_status, record.outcome) == ("browser", 200, "ok")


def test_it_shows_a_text_response_and_its_truncation(owner_client, gpt, action, upstream):
    upstream.reply_with(200, "x" * 100_500, content_type="text/plain")
    page = text(run(owner_client, gpt, "getForecast", city="Oslo"))
    assert "(truncated)" in page
    assert "x" * 1000 in page


def test_it_shows_a_json_answer_no_page_can_carry_as_its_text(owner_client, gpt, action, upstream):
    upstream.reply_with(200, '{"name": "\\ud800", "distance": 1e400}')  # a lone surrogate
    response = run(owner_client, gpt, "getForecast", city="Oslo")
    assert response.status_code == 200
    assert "&quot;name&quot;: &quot;\\ud800&quot;" in text(response)  # as sent
    assert CallRecord.objects.get().outcome == "ok"


def test_it_shows_a_4xx_answer_with_its_colour(owner_client, gpt, action, upstream):
    upstream.reply_with(404, json.dumps({"error": "no such city"}))
    page = text(run(owner_client, gpt, "getForecast", city="Atlantis"))
    assert '<span class="status status-4xx">404</span>' in page
    assert "no such city" in page


def test_it_sends_the_api_key_but_never_shows_it(owner_client, gpt, action, upstream):
    action.auth_type = Action.AuthType.API_KEY
    action.api_key = API_KEY
    action.api_key_auth_type = Action.ApiKeyAuthType.CUSTOM
    action.custom_header_name = "X-Api-Key"
    action.save()
    page = owner_client.get(page_url(gpt))
    assert "API key" in text(page) and API_KEY not in text(page)
    response = run(owner_client, gpt, "getForecast", city="Oslo")
    assert upstream.requests[-1].headers["X-Api-Key"] == API_KEY
    assert API_KEY not in text(response)


def test_it_reports_a_bad_integer_and_sends_nothing(owner_client, gpt, action, upstream):
    response = run(owner_client, gpt, "getForecast", city="Oslo", days="three")
    page = text(response)
    assert response.status_code == 200
    assert "days: enter a whole number" in page
    assert 'aria-invalid="true"' in page and 'value="three"' in page
    assert upstream.requests == []


def test_it_reports_a_missing_required_value(owner_client, gpt, action, upstream):
    page = text(run(owner_client, gpt, "getForecast", city=""))
    assert "city: enter a value" in page
    assert upstream.requests == []


def test_it_reports_a_value_the_schema_refuses(owner_client, gpt, action, upstream):
    page = text(run(owner_client, gpt, "getForecast", city="Oslo", days="0"))
    assert "argument &#x27;days&#x27;: 0 is less than the minimum of 1" in page
    assert upstream.requests == []


def test_it_reports_bad_json_in_the_body_and_sends_nothing(owner_client, gpt, action, upstream):
    page = text(run(owner_client, gpt, "createAlert", _body='{"city": }'))
    assert "Request body: not valid JSON at line 1 column 10" in page
    assert "{&quot;city&quot;: }" in page  # kept for fixing
    assert upstream.requests == []


def test_it_sends_the_json_body(owner_client, gpt, action, upstream):
    AlwaysAllow.objects.create(
        user=gpt.owner, operation=action.operations.get(operation_id="createAlert")
    )
    upstream.reply_with(201, json.dumps({"id": "a1"}))
    page = text(run(owner_client, gpt, "createAlert", _body='{"city": "Oslo", "level": 2}'))
    assert '<span class="status status-2xx">201</span>' in page
    assert json.loads(upstream.requests[-1].body) == {"city": "Oslo", "level": 2}


# --- consequential operations --------------------------------------------------------------

BODY = '{\n  "city": "Oslo"\n}'


def test_it_asks_before_a_consequential_call(owner_client, gpt, action, upstream):
    page = text(run(owner_client, gpt, "createAlert", _body=BODY))
    assert f"Allow createAlert to change something at {action.domain}?" in page
    for button in ('value="allow"', 'value="always"', 'value="decline"'):
        assert button in page
    assert ">Always allow</button>" in page
    assert (
        'type="hidden" name="arg-_body" value="{\n  &quot;city&quot;: &quot;Oslo&quot;\n}"' in page
    )
    assert upstream.requests == []


def test_it_sends_after_allow(owner_client, gpt, action, upstream):
    response = owner_client.post(
        run_url(gpt, "createAlert"), {"arg-_body": BODY, "confirm": "allow"}
    )
    assert '<span class="status status-2xx">200</span>' in text(response)
    assert json.loads(upstream.requests[-1].body) == {"city": "Oslo"}
    assert not AlwaysAllow.objects.exists()
    run(owner_client, gpt, "createAlert", _body=BODY)
    assert len(upstream.requests) == 1  # asked again


def test_it_remembers_always_allow(owner_client, gpt, action, upstream):
    owner_client.post(run_url(gpt, "createAlert"), {"arg-_body": BODY, "confirm": "always"})
    assert len(upstream.requests) == 1
    page = text(run(owner_client, gpt, "createAlert", _body=BODY))
    assert "to change something at" not in page
    assert len(upstream.requests) == 2


def test_it_sends_nothing_after_decline(owner_client, gpt, action, upstream):
    response = owner_client.post(
        run_url(gpt, "createAlert"), {"arg-_body": BODY, "confirm": "decline"}
    )
    assert f"Declined — nothing was sent to {action.domain}." in text(response)
    assert upstream.requests == []


def test_it_does_not_offer_always_allow_when_the_schema_insists(
    owner_client, gpt, action, upstream
):
    page = text(run(owner_client, gpt, "deleteAlert", alertId="a1"))
    assert f"Allow deleteAlert to change something at {action.domain}?" in page
    assert ">Allow</button>" in page and ">Always allow</button>" not in page
    assert upstream.requests == []


# --- failures ------------------------------------------------------------------------------


def test_it_shows_an_upstream_error_readably(owner_client, gpt, action, upstream):
    upstream.reply_with(500, json.dumps({"error": "database on fire"}))
    response = run(owner_client, gpt, "getForecast", city="Oslo")
    page = text(response)
    assert response.status_code == 200
    assert "The call failed" in page and f"{action.domain} answered 500" in page
    assert '<span class="status status-5xx">500</span>' in page
    assert "database on fire" in page
    assert CallRecord.objects.get().outcome == "upstream_error"


def test_it_shows_a_refused_private_address_and_sends_nothing(
    owner_client, gpt, action, upstream, settings
):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = False
    response = run(owner_client, gpt, "getForecast", city="Oslo")
    page = text(response)
    assert response.status_code == 200
    assert "The call failed" in page and "127.0.0.1" in page
    assert upstream.requests == []
    assert CallRecord.objects.get().outcome == "refused"


def test_it_shows_an_unreachable_upstream_readably(owner_client, gpt, action, upstream):
    upstream.close()
    response = run(owner_client, gpt, "getForecast", city="Oslo")
    assert response.status_code == 200
    assert "The call failed" in text(response)


def test_it_offers_sign_in_for_an_oauth_action(owner_client, gpt, action, upstream):
    action.auth_type = Action.AuthType.OAUTH
    action.client_id = "client-123"
    action.client_secret = "planted-client-secret-0004"
    action.authorization_url = upstream.url("/authorize")
    action.token_url = upstream.url("/token")
    action.save()
    assert "OAuth sign-in" in text(owner_client.get(page_url(gpt)))
    page = text(run(owner_client, gpt, "getForecast", city="Oslo"))
    sign_in = reverse("sign-in", args=[gpt.id, action.id])
    assert (
        f'<a class="btn primary" href="{sign_in}?next=%2Fg%2F{gpt.id}%2F%23op-getForecast">' in page
    )
    assert f"Sign in to {action.domain}</a>" in page
    assert "planted-client-secret-0004" not in page
    assert upstream.requests == []


def test_it_shows_a_timeout_readably(owner_client, gpt, action, monkeypatch):
    from actions import outbound

    def too_slow(*args, **kwargs):
        raise outbound.UpstreamTimeout("127.0.0.1 did not answer within 45 seconds.")

    monkeypatch.setattr(outbound, "request", too_slow)
    response = run(owner_client, gpt, "getForecast", city="Oslo")
    assert response.status_code == 200
    page = text(response)
    assert "No answer in time" in page and "did not answer within 45 seconds" in page
    assert CallRecord.objects.get().outcome == "upstream_timeout"


def test_it_shows_a_misconfigured_action_readably(owner_client, gpt, action, upstream):
    Action.objects.filter(pk=action.pk).update(server_url="http://elsewhere.example.com/v1")
    response = run(owner_client, gpt, "getForecast", city="Oslo")
    assert response.status_code == 200
    assert "This action cannot run" in text(response)
    assert f"getForecast does not lead to {action.domain}" in text(response)
    assert upstream.requests == []
