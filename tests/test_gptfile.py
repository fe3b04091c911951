"""GPT files: export, import, the round trip, and bad files that create nothing."""

import io
import textwrap

import pytest
from django.core.management import CommandError, call_command

from actions.gptfile import GPTFileError, export_gpt, import_gpt
from actions.models import GPT, Action
from actions.schemas import save_action_schema
from tests.schemas import WEATHER, with_server

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "planted-client-secret-for-export"
API_KEY = "planted-api-key-for-export"


@pytest.fixture
def full_gpt(gpt):
    gpt.privacy_policy_url = "https://weather.example.com/privacy"
    gpt.visibility = "link"
    gpt.save()
    oauth, _ = save_action_schema(gpt=gpt, text=WEATHER)
    oauth.auth_type = "oauth"
    oauth.client_id = "client-123"
    oauth.client_secret = CLIENT_SECRET
    oauth.authorization_url = "https://auth.weather.example.com/authorize"
    oauth.token_url = "https://auth.weather.example.com/token"
    oauth.scope = "read write"
    oauth.token_exchange_method = "basic_auth_header"
    oauth.save()
    keyed_schema = with_server("https://api.keys.example.org").replace("Forecast", "KeyedForecast")
    keyed, _ = save_action_schema(gpt=gpt, text=keyed_schema.replace("Alert", "KeyedAlert"))
    keyed.auth_type = "api_key"
    keyed.api_key = API_KEY
    keyed.api_key_auth_type = "custom"
    keyed.custom_header_name = "X-Api-Key"
    keyed.save()
    return gpt


def snapshot(gpt: GPT) -> dict:
    fields = [
        "schema_text",
        "server_url",
        "domain",
        "auth_type",
        "api_key",
        "api_key_auth_type",
        "custom_header_name",
        "client_id",
        "client_secret",
        "authorization_url",
        "token_url",
        "scope",
        "token_exchange_method",
    ]
    return {
        "gpt": (gpt.name, gpt.description, gpt.privacy_policy_url, gpt.visibility),
        "actions": [
            (
                {f: getattr(a, f) for f in fields},
                sorted(a.operations.values_list("operation_id", "method", "path")),
            )
            for a in gpt.actions.order_by("domain")
        ],
    }


def test_it_exports_without_secrets(full_gpt):
    text = export_gpt(full_gpt)
    assert CLIENT_SECRET not in text and API_KEY not in text
    assert "client_secret: ${API_WEATHER_EXAMPLE_COM_CLIENT_SECRET}" in text
    assert "api_key: ${API_KEYS_EXAMPLE_ORG_API_KEY}" in text
    assert "schema: |" in text


def test_it_round_trips_export_then_import(full_gpt, outsider):
    text = export_gpt(full_gpt)
    env = {
        "API_WEATHER_EXAMPLE_COM_CLIENT_SECRET": CLIENT_SECRET,
        "API_KEYS_EXAMPLE_ORG_API_KEY": API_KEY,
    }
    copy = import_gpt(text, owner=outsider, env=env)
    assert copy.id != full_gpt.id and copy.owner == outsider
    assert snapshot(copy) == snapshot(full_gpt)


def test_the_commands_print_and_import(full_gpt, owner, tmp_path, monkeypatch):
    out = io.StringIO()
    call_command("export_gpt", full_gpt.id, stdout=out)
    path = tmp_path / "gpt.yaml"
    path.write_text(out.getvalue())
    monkeypatch.setenv("API_WEATHER_EXAMPLE_COM_CLIENT_SECRET", "s1")
    monkeypatch.setenv("API_KEYS_EXAMPLE_ORG_API_KEY", "k1")
    out = io.StringIO()
    call_command("import_gpt", str(path), owner="alice", stdout=out)
    new_id = out.getvalue().strip().splitlines()[-1]
    copy = GPT.objects.get(id=new_id)
    assert copy.actions.get(domain="api.keys.example.org").api_key == "k1"


def test_it_reads_literal_secrets(owner):
    text = textwrap.dedent(
        """\
        name: Literal
        actions:
          - schema: |
        {schema}
            authentication:
              type: api_key
              api_key: literal-key
              auth_type: bearer
        """
    ).format(schema=textwrap.indent(WEATHER, " " * 8))
    gpt = import_gpt(text, owner=owner, env={})
    action = gpt.actions.get()
    assert action.api_key == "literal-key" and action.api_key_auth_type == "bearer"
    assert action.operations.count() == 2


def bad(text: str, owner, env=None) -> GPTFileError:
    with pytest.raises(GPTFileError) as info:
        import_gpt(textwrap.dedent(text), owner=owner, env=env or {})
    assert not GPT.objects.exists() and not Action.objects.exists()
    return info.value


SCHEMA_BLOCK = textwrap.indent(WEATHER, " " * 6)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: [unclosed\n", 2, "not valid YAML"),
        ("- just\n- a list\n", 1, "YAML mapping"),
        ("name: A\nname: B\n", 2, "duplicate key 'name'"),
        ("name: A\ncolour: blue\n", 2, "unknown key 'colour'"),
        ("description: no name\n", 1, "name is required"),
        ("name: A\nvisibility: everyone\n", 2, "visibility must be"),
        ("name: A\nprivacy_policy_url: not-a-url\n", 2, "privacy_policy_url"),
        ("name: A\nactions:\n  - schema: 'openapi: 3.1.0'\n", 3, "actions[0].schema"),
        (
            "name: A\nactions:\n  - schema: |\n" + SCHEMA_BLOCK + "    authentication:\n"
            "      type: api_key\n      api_key: ${MISSING_VAR}\n",
            None,
            "environment variable MISSING_VAR is not set",
        ),
        (
            "name: A\nactions:\n  - schema: |\n" + SCHEMA_BLOCK + "    authentication:\n"
            "      type: oauth\n      client_id: x\n      client_secret: y\n"
            "      authorization_url: https://evil.example.net/authorize\n"
            "      token_url: https://auth.weather.example.com/token\n",
            None,
            "must share the domain",
        ),
        (
            "name: A\nactions:\n  - schema: |\n" + SCHEMA_BLOCK + "    authentication:\n"
            "      type: telepathy\n",
            None,
            "Authentication Type must be one of",
        ),
    ],
)
def test_it_names_the_line_of_a_bad_file_and_creates_nothing(owner, text, line, message):
    error = bad(text, owner)
    assert message in error.message
    if line is not None:
        assert error.line == line
    else:
        assert error.line is not None


def _with_auth(*lines: str) -> str:
    auth = "".join(f"      {line}\n" for line in lines)
    return "name: A\nactions:\n  - schema: |\n" + SCHEMA_BLOCK + "    authentication:\n" + auth


OAUTH_LINES = (
    "type: oauth",
    "client_secret: y",
    "authorization_url: https://auth.weather.example.com/authorize",
    "token_url: https://auth.weather.example.com/token",
)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: A\ndescription: bell\x07\n", 2, "not valid YAML: character #x0007"),
        ("name: A\n? [a, b]\n: c\n", 2, "a key must be text"),
        ("name: A\ndescription: " + "9" * 4_301 + "\n", 2, "more than 4,300 digits"),
        ("name: A\ndescription: 0x" + "f" * 4_000 + "\n", 2, "more than 4,300 digits"),
        ("name: A\ndescription: " + "[" * 5_000 + "]" * 5_000 + "\n", None, "nested too deeply"),
        ('name: "A\\0B"\n', 1, "name cannot contain a NUL character"),
        (
            _with_auth(*OAUTH_LINES, "client_id: " + "c" * 501),
            "client_id",
            "Client ID is 501 characters long; the limit is 500.",
        ),
        (
            _with_auth("type: api_key", 'api_key: "abc\\r\\ndef"'),
            "api_key",
            "API Key cannot contain line breaks or control characters.",
        ),
    ],
    ids=["control", "list-key", "long-int", "long-hex", "deep", "nul", "client-id", "key-crlf"],
)
def test_it_names_what_no_database_or_request_could_take(owner, text, line, message):
    error = bad(text, owner)
    assert message in error.message
    if isinstance(line, str):  # the line of that authentication key
        line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip().startswith(line))
    assert error.line == line


def test_the_command_reports_file_and_line(owner, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: A\nname: B\n")
    with pytest.raises(
        CommandError, match=r"bad.yaml:2: duplicate key 'name'; nothing was created"
    ):
        call_command("import_gpt", str(path), owner="alice")
    assert not GPT.objects.exists()
