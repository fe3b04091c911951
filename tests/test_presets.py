"""Provider presets: the data file, Apply in the dialog (no JavaScript needed), the preset's
own domains in the URL rule, GPT files carrying the provider options, and the README's
provider table naming every preset and behaviour with the test that shows it."""

import re
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from actions import providers
from actions.authentication import clean_authentication, save_authentication
from actions.gptfile import export_gpt, import_gpt
from actions.models import Action
from actions.schemas import save_action_schema
from tests.conformance.profiles import ALL, PRESET_MIMICS
from tests.schemas import WEATHER, with_server

pytestmark = pytest.mark.django_db

REQUIRED = {
    "github",
    "google",
    "microsoft",
    "slack",
    "salesforce",
    "notion",
    "dropbox",
    "atlassian",
    "hubspot",
    "zoom",
}
README = Path(__file__).resolve().parent.parent / "README.md"


def action_on(gpt, api_url: str) -> Action:
    action, _ = save_action_schema(gpt=gpt, text=with_server(api_url))
    return action


def test_the_required_presets_exist_and_cite_their_documentation():
    assert REQUIRED <= set(providers.PRESETS)
    for key, preset in providers.PRESETS.items():
        assert preset.docs.startswith("https://"), key
        assert preset.authorization_url.startswith("https://"), key
        assert preset.token_url.startswith("https://"), key


@pytest.mark.parametrize("key", sorted(providers.PRESETS))
def test_each_preset_passes_the_dialogs_checks_for_its_providers_api(gpt, key):
    preset = providers.PRESETS[key]
    action = action_on(gpt, preset.api_url)
    data = {"auth_type": "oauth", "client_id": "id", "client_secret": "s", "scope": "x"}
    cleaned = clean_authentication({**data, **preset.form_values()}, action=action)
    assert cleaned["authorization_url"] == preset.authorization_url
    assert cleaned["preset"] == key


@pytest.mark.parametrize(
    ("api_url", "urls_of", "preset", "allowed"),
    [
        ("https://api.dropboxapi.com/2", "dropbox", "dropbox", True),
        ("https://content.dropboxapi.com/2", "dropbox", "dropbox", True),
        ("https://api.dropboxapi.com/2", "dropbox", "", False),  # the usual rule: two domains
        ("https://api.evil.example/v1", "dropbox", "dropbox", False),  # not Dropbox's API
        ("https://api.hubapi.com", "hubspot", "hubspot", True),
        ("https://api.hubapi.com", "hubspot", "dropbox", False),  # another provider's domains
    ],
)
def test_a_preset_allows_its_own_domains_only_for_its_own_api(
    gpt, api_url, urls_of, preset, allowed
):
    action = action_on(gpt, api_url)
    values = {**providers.PRESETS[urls_of].form_values(), "preset": preset}
    data = {"auth_type": "oauth", "client_id": "id", "client_secret": "s", **values}
    if allowed:
        clean_authentication(data, action=action)
    else:
        with pytest.raises(ValidationError, match="must share the domain"):
            clean_authentication(data, action=action)


def test_an_unknown_preset_is_refused_by_name(gpt):
    action = action_on(gpt, "https://api.weather.example.com/v1")
    data = {"auth_type": "oauth", "client_id": "i", "client_secret": "s", "preset": "myspace"}
    data |= {"authorization_url": "https://a.weather.example.com/a", "token_url": ""}
    with pytest.raises(ValidationError, match="Provider preset 'myspace' is unknown"):
        clean_authentication(data, action=action)


def test_apply_fills_the_dialog_keeps_what_the_builder_typed_and_saves_nothing(owner_client, gpt):
    action = action_on(gpt, "https://slack.com/api")
    url = f"/gpts/{gpt.id}/actions/{action.id}/auth/"
    typed = {"auth_type": "none", "client_id": "123.456", "scope": "search:read", "preset": "slack"}
    response = owner_client.post(url, {**typed, "apply_preset": "1"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["auth_type"] == "oauth" and form.initial["client_id"] == "123.456"
    assert form.initial["scope"] == "search:read"
    assert form.initial["token_url"] == "https://slack.com/api/oauth.v2.access"
    assert form.initial["scope_separator"] == "comma"
    assert form.initial["scope_parameter"] == "user_scope"
    assert form.initial["token_response_path"] == "authed_user"
    assert form.initial["token_exchange_method"] == "basic_auth_header"
    page = response.content.decode()
    assert "Filled in from the Slack preset" in page and providers.PRESETS["slack"].docs in page
    assert '<details class="advanced" open>' in page  # the filled options are visible
    action.refresh_from_db()
    assert action.auth_type == "none"

    data = {k: v for k, v in form.initial.items() if v is not None}
    assert owner_client.post(url, {**data, "client_secret": "s", "save": "1"}).status_code == 302
    action.refresh_from_db()
    assert (action.preset, action.scope_parameter, action.client_secret) == (
        "slack",
        "user_scope",
        "s",
    )


def test_apply_without_a_choice_says_so(owner_client, gpt):
    action = action_on(gpt, "https://slack.com/api")
    url = f"/gpts/{gpt.id}/actions/{action.id}/auth/"
    response = owner_client.post(url, {"auth_type": "oauth", "preset": "", "apply_preset": "1"})
    assert response.context["form"].errors["preset"] == ["Choose a provider preset to apply."]


def test_a_malformed_preset_file_stops_the_app_naming_the_preset(tmp_path):
    path = tmp_path / "presets.yaml"
    path.write_text("acme:\n  name: Acme\n  docs: https://acme.example\n  colour: red\n")
    with pytest.raises(ImproperlyConfigured, match="preset 'acme' is malformed"):
        providers._load_presets(path)


def test_gpt_files_carry_the_provider_options(gpt, outsider):
    gpt.refresh_from_db()
    action = action_on(gpt, "https://api.dropboxapi.com/2")
    values = providers.PRESETS["dropbox"].form_values()
    data = {"auth_type": "oauth", "client_id": "id", "client_secret": "s", "scope": "a b"}
    save_authentication(action, clean_authentication({**data, **values}, action=action))
    text = export_gpt(gpt)
    assert "preset: dropbox" in text and "token_access_type=offline" in text
    assert "scope_separator" not in text  # options at their default stay out of the file
    env = {"API_DROPBOXAPI_COM_CLIENT_SECRET": "s"}
    copy = import_gpt(text, owner=outsider, env=env).actions.get()
    for name in ("preset", "extra_authorization_params", "authorization_url", "token_url"):
        assert getattr(copy, name) == getattr(action, name), name


def test_a_gpt_file_may_give_extra_parameters_as_a_mapping(owner):
    text = textwrap.dedent(
        """\
        name: Mapped
        actions:
          - schema: |
        {schema}
            authentication:
              type: oauth
              client_id: abc
              client_secret: literal
              authorization_url: https://auth.weather.example.com/authorize
              token_url: https://auth.weather.example.com/token
              scope_separator: comma
              require_iss: true
              issuer: https://auth.weather.example.com
              extra_authorization_params:
                access_type: offline
                include_granted_scopes: true
        """
    ).format(schema=textwrap.indent(WEATHER, " " * 8))
    action = import_gpt(text, owner=owner, env={}).actions.get()
    assert action.extra_authorization_params == "access_type=offline\ninclude_granted_scopes=true"
    assert (action.scope_separator, action.require_iss) == ("comma", True)


def test_every_preset_runs_in_the_conformance_suite():
    assert set(PRESET_MIMICS) == set(providers.PRESETS)


def test_the_readme_provider_table_names_every_case_with_its_test():
    section = README.read_text().split("## Providers", 1)[1].split("\n## ", 1)[0]
    node = "tests/conformance/test_conformance.py::test_provider_conformance[{}]"
    for profile in ALL:
        row = next((line for line in section.splitlines() if node.format(profile.id) in line), "")
        assert row, f"README's provider table lacks {profile.id}"
        status = "Not supported" if profile.unsupported else "Supported"
        assert re.search(rf"\| {status}\b", row), f"{profile.id} should be marked {status}"
