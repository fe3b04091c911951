"""Bad input, generated: schema text, GPT files, the Authentication form and the agent API's
JSON. Whatever comes in, the answer is a clear refusal or success, never a 500, and a refusal
changes nothing stored.

Each property runs a bounded number of examples. Inputs that once hit a bug are pinned, one
by one, in the tests at the end of each section.
"""

import copy
import json
import operator
import os

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from actions import gptfile
from actions.gptfile import GPTFileError, import_gpt
from actions.models import GPT, Action, AlwaysAllow, CallRecord, Connection, Operation
from actions.openapi import ParsedSchema, SchemaError, SchemaProblem, parse_schema
from actions.schemas import save_action_schema
from editor.forms import AuthenticationForm
from tests.schemas import WEATHER, with_server

pytestmark = pytest.mark.django_db

# FUZZ_EXAMPLES=2000 explores with random inputs; by default the same bounded set every run.
EXPLORE = int(os.environ.get("FUZZ_EXAMPLES") or 0)
FUZZ = settings(
    max_examples=EXPLORE or 60,
    derandomize=not EXPLORE,
    deadline=None,
    database=None,  # no example database: failures are pinned as tests instead
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the fixtures' rows are shared on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# --- values --------------------------------------------------------------------------------

# What a browser or a file can carry: any character but lone surrogates, NUL included.
CHARS = st.characters(blacklist_categories=("Cs",))
ODD = [
    "",
    " ",
    "\t",
    "\r\n",
    "\u202e",  # right-to-left override
    "e\u0301",
    "😀",
    "\ufeff",
    "\u2028",
    "ǅ",
    "İ",
    "ß",
    "\x85",
    "٣",
    "%00",
    "${HOME}",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "null",
    "1e400",
]
texts = st.one_of(st.text(CHARS, max_size=30), st.sampled_from(ODD))
# Large, but within what Python turns into text (see the 4300-digit tests below).
numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.sampled_from([10**4000, -(10**300), 2**63, -(2**63) - 1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
)


def json_values(text_strategy):
    """Anything JSON or YAML can say, built from `text_strategy` strings."""
    scalars = st.one_of(st.none(), st.booleans(), numbers, text_strategy)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(text_strategy, inner, max_size=4)
        ),
        max_leaves=12,
    )


scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = json_values(texts)


# --- (a) schema import ---------------------------------------------------------------------

BASE = {
    "openapi": "3.1.0",
    "info": {"title": "Fuzz", "version": "1.0"},
    "servers": [{"url": "https://api.fuzz.example.com/v1"}],
    "paths": {
        "/items/{id}": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "operationId": "getItem",
                "summary": "One item",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "integer", "default": 1}}
                ],
                "responses": {"200": {"description": "OK"}},
            },
            "post": {
                "operationId": "updateItem",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}
                    },
                },
                "responses": {"200": {"description": "OK"}},
            },
        }
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            }
        }
    },
}
SCHEMA_KEYS = [
    "openapi", "info", "servers", "paths", "components", "get", "post", "delete", "parameters",
    "requestBody", "content", "schema", "$ref", "operationId", "x-openai-isConsequential",
    "type", "properties", "items", "required", "in", "name", "url", "variables", "default",
    "enum", "allOf", "oneOf", "security", "securitySchemes", "application/json",
]  # fmt: skip
REFS = [
    "#/components/schemas/Item",
    "#/components/schemas/Nope",
    "#",
    "#/paths",
    "#/components/schemas/Item/properties/tags",
    "https://example.com/other.yaml#/X",
    "other.yaml",
    "#/components/schemas/It%65m",
    "#anchor",
]


def _places(node):
    """(container, key) of every value in a JSON-like document."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in list(items):
        yield node, key
        if isinstance(child, dict | list):
            yield from _places(child)


@st.composite
def openapi_like(draw, values=values, texts=texts) -> dict:
    """BASE with a few random edits: a value replaced by anything, a key removed or added,
    a $ref pointing anywhere."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(0, 6))):
        places = list(_places(document))
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        how = draw(st.sampled_from(["replace", "replace", "delete", "add", "ref"]))
        target = container[key]
        if how == "delete":
            del container[key]
        elif how == "add" and isinstance(target, dict):
            target[draw(st.sampled_from(SCHEMA_KEYS) | texts)] = draw(values)
        elif how == "add" and isinstance(target, list):
            target.append(draw(values))
        elif how == "ref":
            container[key] = {"$ref": draw(st.sampled_from(REFS))}
        else:
            container[key] = draw(values)
    return document


@st.composite
def dumped(draw, documents) -> str:
    """A document as JSON or YAML text, in one of several styles."""
    document = draw(documents)
    style = draw(st.sampled_from(["json", "json-indented", "yaml", "yaml-flow"]))
    if style.startswith("json"):
        indent = 2 if style == "json-indented" else None
        return json.dumps(document, ensure_ascii=draw(st.booleans()), indent=indent)
    text = yaml.safe_dump(
        document,
        allow_unicode=draw(st.booleans()),
        default_flow_style=style == "yaml-flow",
        sort_keys=False,
        width=draw(st.sampled_from([80, 10_000])),
    )
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


@st.composite
def deep_texts(draw) -> str:
    """Nesting from shallow to far past any recursion limit, in JSON and YAML."""
    depth = draw(st.sampled_from([50, 500, 999, 1000, 1001, 3000, 20_000]))
    kind = draw(st.sampled_from(["array", "in-document", "yaml-flow", "yaml-block", "schema"]))
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "in-document":
        return json.dumps(BASE)[:-1] + ', "x-deep": ' + "[" * depth + "]" * depth + "}"
    if kind == "yaml-flow":
        return "openapi: 3.1.0\nx-deep: " + "{a: " * depth + "1" + "}" * depth
    if kind == "yaml-block":
        return "openapi: 3.1.0\nx-deep:\n" + "- " * depth + "x\n"
    document = copy.deepcopy(BASE)
    document["paths"]["/items/{id}"]["get"]["parameters"][0]["schema"] = "DEEP"
    nested = '{"type": "array", "items": ' * depth + '{"type": "string"}' + "}" * depth
    return json.dumps(document).replace('"DEEP"', nested)


YAML_BITS = [
    "openapi:", " 3.1.0", "\n", "  ", "- ", ": ", "{", "}", "[", "]", ", ", "&a ", "*a", "<<: ",
    "? ", "|\n", ">\n", "# c", "'", '"', "---\n", "...\n", "~", "0x1F", "paths:", "/a:",
    "get:", "operationId: x", "servers:", "url: https://api.example.com", "!!str ", "\t",
]  # fmt: skip
yamlish = st.lists(st.sampled_from(YAML_BITS) | texts, max_size=40).map("".join)
# Arbitrary text may hold anything but lone surrogates, NUL and control characters included.
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=400)
schema_inputs = st.one_of(any_text, yamlish, dumped(openapi_like()), deep_texts())


def assert_problems(exc: SchemaError) -> None:
    assert exc.problems
    for problem in exc.problems:
        assert isinstance(problem, SchemaProblem) and problem.where and problem.message


@FUZZ
@given(text=schema_inputs)
@example(text=json.dumps(BASE))
@example(text="\ufeff" + yaml.safe_dump(BASE))
@example(text="a" * 1_000_001)
def test_parse_schema_gives_a_schema_or_its_problems_never_another_exception(text):
    try:
        parsed = parse_schema(text)
    except SchemaError as exc:
        assert_problems(exc)
    else:
        assert isinstance(parsed, ParsedSchema)
        assert parsed.operations and parsed.domain and parsed.server_url
        # What is stored (Operation.parameters, request_body) must be JSON.
        json.dumps([[op.parameters, op.request_body] for op in parsed.operations], allow_nan=False)


@FUZZ
@given(text=schema_inputs)
@example(text=json.dumps(BASE))
@example(text="")
@example(text="openapi: 3.1.0\x00")
def test_the_schema_form_answers_200_or_302_and_saves_nothing_on_error(owner_client, owner, text):
    gpt = GPT.objects.create(owner=owner, name="Fuzz")

    response = owner_client.post(f"/gpts/{gpt.id}/actions/new/", {"schema_text": text})

    assert response.status_code in (200, 302)
    if response.status_code == 302:
        action = Action.objects.get(gpt=gpt)
        assert response.url == f"/gpts/{gpt.id}/actions/{action.id}/"
        assert action.operations.exists()
    else:
        assert 'role="alert"' in response.content.decode()  # it says what is wrong
        assert not Action.objects.filter(gpt=gpt).exists()
        assert not Operation.objects.filter(action__gpt=gpt).exists()


def _schema_with(**replacements) -> str:
    text = json.dumps(BASE)
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text


HUGE_DIGITS = "1" * 5_000
HUGE_HEX = "0x" + "f" * 5_000


@pytest.mark.parametrize(
    "text",
    [
        '{"openapi": ' + HUGE_DIGITS + "}",
        "openapi: " + HUGE_DIGITS,
        "openapi: " + HUGE_HEX,
        yaml.safe_dump(BASE).replace("version: '1.0'", "version: " + HUGE_HEX),
        yaml.safe_dump(BASE) + "? " + HUGE_HEX + "\n: 1\n",  # explicit: keys over 1024 need it
    ],
    ids=["json", "yaml", "yaml-hex-version", "yaml-hex-info", "yaml-hex-key"],
)
def test_a_number_too_long_for_python_is_a_schema_problem(owner_client, gpt, text):
    with pytest.raises(SchemaError) as raised:
        parse_schema(text)
    assert_problems(raised.value)
    response = owner_client.post(f"/gpts/{gpt.id}/actions/new/", {"schema_text": text})
    assert response.status_code == 200 and not gpt.actions.exists()


@pytest.mark.parametrize(
    "value",
    ["!!binary aGVsbG8=", "!!set {a, b}", ".inf", ".nan", "1e400", "NaN"],
)
def test_values_json_cannot_hold_are_refused_or_dropped(owner_client, gpt, value):
    text = yaml.safe_dump(BASE).replace("default: 1", "x-extra: " + value)
    if value in ("1e400", "NaN"):  # as JSON text
        text = _schema_with(**{'"default": 1': '"x-extra": ' + value})
    try:
        parsed = parse_schema(text)
    except SchemaError as exc:
        assert_problems(exc)
    else:
        json.dumps([op.parameters for op in parsed.operations], allow_nan=False)
    response = owner_client.post(f"/gpts/{gpt.id}/actions/new/", {"schema_text": text})
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("where", ["[query]", "{a: b}"])
def test_a_parameter_whose_in_is_not_text_is_a_schema_problem(owner_client, gpt, where):
    text = yaml.safe_dump(BASE).replace("in: query", "in: " + where)
    with pytest.raises(SchemaError) as raised:
        parse_schema(text)
    assert_problems(raised.value)
    response = owner_client.post(f"/gpts/{gpt.id}/actions/new/", {"schema_text": text})
    assert response.status_code == 200 and not gpt.actions.exists()


def test_a_lone_surrogate_is_a_schema_problem():
    with pytest.raises(SchemaError):
        parse_schema("openapi: \ud800")


@pytest.mark.parametrize(
    "text",
    [
        _schema_with(**{'"title": "Fuzz"': '"title": "Fu\\u0000zz"'}),
        _schema_with(**{'"summary": "One item"': '"summary": "One\\u0000item"'}),
        yaml.safe_dump(BASE).replace("default: 1", 'description: "a\\0b"'),
    ],
    ids=["json-title", "json-summary", "yaml-parameter"],
)
def test_an_escaped_nul_in_a_schema_is_not_a_500(owner_client, gpt, text):
    response = owner_client.post(f"/gpts/{gpt.id}/actions/new/", {"schema_text": text})
    assert response.status_code in (200, 302)


@pytest.mark.parametrize(
    "text",
    [
        _schema_with(**{"/items/{id}": "/items/{id}/" + "p" * 2_100}),
        _schema_with(
            **{"https://api.fuzz.example.com/v1": "https://api.fuzz.example.com/" + "v" * 600}
        ),
        _schema_with(
            **{
                "api.fuzz.example.com": "a" * 60
                + "."
                + "b" * 60
                + "."
                + "c" * 60
                + "."
                + "d" * 60
                + ".example.com"
            }
        ),
        _schema_with(**{"application/json": "application/vnd." + "x" * 120 + "+json"}),
    ],
    ids=["path", "server-url", "host", "media-type"],
)
def test_an_over_long_schema_part_is_a_problem_not_a_500(owner_client, gpt, text):
    response = owner_client.post(f"/gpts/{gpt.id}/actions/new/", {"schema_text": text})
    assert response.status_code in (200, 302)


# --- (b) GPT files -------------------------------------------------------------------------

VALID_SCHEMA = yaml.safe_dump(BASE)
# Any character a file can hold; YAML refuses control characters raw (pinned below).
YAML_CHARS = st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\t\n\r")
file_texts = st.one_of(st.text(YAML_CHARS, max_size=30), st.sampled_from(ODD))
file_values = json_values(file_texts)
AUTH_KEYS = sorted(gptfile.AUTH_KEYS)
AUTH_WORDS = [
    "none", "api_key", "oauth", "basic", "bearer", "custom", "default_post",
    "basic_auth_header", "https://api.fuzz.example.com/oauth/authorize",
    "https://api.fuzz.example.com/oauth/token", "https://evil.example/token",
    "http://localhost/token", "${FUZZ_SECRET}", "${NOT SET}", "X-Api-Key", "Host", "on", "off",
]  # fmt: skip
auth_values = st.one_of(st.sampled_from(AUTH_WORDS), file_values)
authentications = st.dictionaries(st.sampled_from([*AUTH_KEYS, "bogus"]) | file_texts, auth_values)
gpt_actions = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.one_of(
            st.just(VALID_SCHEMA),
            dumped(openapi_like(values=file_values, texts=file_texts)),
            file_values,
        ),
        "authentication": authentications | file_values,
        "bogus": file_values,
    },
)
gpt_files = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.just("Imported"), file_values),
        "description": file_values,
        "privacy_policy_url": st.sampled_from(
            ["https://example.com/privacy", "javascript:alert(1)", "", "example.com"]
        )
        | file_texts,
        "visibility": st.sampled_from(["only_me", "link", "public", ""]) | file_values,
        "actions": st.lists(gpt_actions | file_values, max_size=3) | file_values,
        "bogus": file_values,
    },
)
gpt_file_texts = st.one_of(
    dumped(gpt_files | file_values),
    st.text(YAML_CHARS, max_size=300),
    st.lists(
        st.sampled_from(YAML_BITS + ["name: x\n", "actions:\n", "  - schema: |\n"]), max_size=30
    ).map("".join),
)


def counts() -> tuple[int, int, int]:
    return GPT.objects.count(), Action.objects.count(), Operation.objects.count()


@FUZZ
@given(text=gpt_file_texts)
@example(text=yaml.safe_dump({"name": "Imported", "actions": [{"schema": VALID_SCHEMA}]}))
@example(text="name: x\nactions:\n  - schema: " + json.dumps(VALID_SCHEMA) + "\n  - schema: x")
def test_import_gpt_creates_a_gpt_or_nothing(owner, text):
    before = counts()
    try:
        gpt = import_gpt(text, owner=owner, env={})
    except GPTFileError as exc:
        assert str(exc).strip()
        assert counts() == before
    else:
        assert gpt.owner == owner and GPT.objects.filter(pk=gpt.pk).exists()
        assert counts()[0] == before[0] + 1


@pytest.mark.parametrize(
    "text",
    [
        "name: bell\x07\n",
        "? [a, b]\n: c\n",
        "? {a: b}\n: c\n",
        "name: " + HUGE_DIGITS + "\n",
        "name: " + HUGE_HEX,
    ],
    ids=["control-character", "list-key", "mapping-key", "huge-int", "huge-hex"],
)
def test_a_malformed_gpt_file_is_a_gpt_file_error(owner, text):
    before = counts()
    with pytest.raises(GPTFileError):
        import_gpt(text, owner=owner, env={})
    assert counts() == before


def _oauth_file(**auth) -> str:
    authentication = {
        "type": "oauth",
        "client_id": "client",
        "client_secret": "secret",
        "authorization_url": "https://api.fuzz.example.com/oauth/authorize",
        "token_url": "https://api.fuzz.example.com/oauth/token",
        **auth,
    }
    return yaml.safe_dump(
        {
            "name": "Imported",
            "actions": [{"schema": VALID_SCHEMA, "authentication": authentication}],
        }
    )


@pytest.mark.parametrize(
    "text",
    [
        'name: "Nul\\0name"\n',
        _oauth_file(client_id="c" * 600),
        _oauth_file(scope="s" * 2_100),
        _oauth_file(token_url="https://api.fuzz.example.com/" + "t" * 2_100),
        yaml.safe_dump(
            {
                "name": "Imported",
                "actions": [
                    {
                        "schema": VALID_SCHEMA,
                        "authentication": {
                            "type": "api_key",
                            "api_key": "k",
                            "auth_type": "custom",
                            "custom_header_name": "X-" + "h" * 150,
                        },
                    }
                ],
            }
        ),
    ],
    ids=["nul-in-name", "long-client-id", "long-scope", "long-token-url", "long-header-name"],
)
def test_a_gpt_file_postgresql_cannot_store_is_a_gpt_file_error(owner, text):
    before = counts()
    with pytest.raises(GPTFileError):
        import_gpt(text, owner=owner, env={})
    assert counts() == before


# --- (c) the Authentication form -----------------------------------------------------------

AUTH_FORM_FIELDS = sorted(AuthenticationForm.base_fields)
URLS = [
    "https://api.weather.example.com/oauth/authorize",
    "https://api.weather.example.com/oauth/token",
    "https://accounts.google.com/o/oauth2/auth",
    "http://api.weather.example.com/token",
    "https://evil.example/token",
    "https://[::1",
    "https://api.weather.example.com:99999/x",
    "javascript:alert(1)",
    "https://api.weather.example.com/\x00",
    "",
]
PLAUSIBLE = {
    "auth_type": ["none", "api_key", "oauth", "", "OAuth", " oauth ", "bogus"],
    "api_key_auth_type": ["basic", "bearer", "custom", "", "Custom", "digest"],
    "token_exchange_method": ["default_post", "basic_auth_header", "", "form"],
    "pkce_enabled": ["on", "off", "", "maybe"],
    "custom_header_name": ["X-Api-Key", "Authorization", "Host", "X Key", "X-Ключ", "X-Key\n"],
    "authorization_url": URLS,
    "token_url": URLS,
    "revocation_url": URLS,
    "issuer": URLS,
}
long_texts = st.builds(
    operator.mul,
    st.sampled_from(["a", "é", "😀", "\r\n", "x-", " "]),
    st.sampled_from([99, 100, 101, 499, 500, 501, 1_999, 2_000, 2_001, 10_000]),
)
raw_texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # NUL and controls


def field_values(name: str):
    return st.one_of(
        st.sampled_from(PLAUSIBLE.get(name, ["client-1", "read write"])), raw_texts, long_texts
    )


auth_form_data = st.fixed_dictionaries(
    {}, optional={name: field_values(name) for name in AUTH_FORM_FIELDS}
)


@pytest.fixture
def oauth_action(gpt, outsider):
    """An OAuth action someone is signed in to: both must survive a refused form."""
    action, _ = save_action_schema(gpt=gpt, text=WEATHER)
    action.auth_type = "oauth"
    action.client_id, action.client_secret = "client-1", "client-secret-1"
    action.authorization_url = "https://api.weather.example.com/oauth/authorize"
    action.token_url = "https://api.weather.example.com/oauth/token"
    action.scope = "read"
    action.save()
    Connection.objects.create(user=outsider, action=action, access_token="at", scope="read")
    return action


def stored(action) -> tuple:
    row = Action.objects.filter(pk=action.pk).values().get()
    connections = list(Connection.objects.filter(action=action).values_list("pk", "access_token"))
    return row, connections


@FUZZ
@given(data=auth_form_data)
@example(data={"auth_type": "api_key", "api_key": "k" * 10_000, "api_key_auth_type": "bearer"})
@example(data={"auth_type": "oauth", "client_id": "c" * 501})
@example(data={"auth_type": "bogus"})
def test_the_authentication_form_answers_200_or_302_and_a_refusal_changes_nothing(
    owner_client, oauth_action, outsider, data
):
    original, _ = stored(oauth_action)
    Action.objects.filter(pk=oauth_action.pk).update(
        **{k: v for k, v in original.items() if k not in ("id", "updated")}
    )
    if not Connection.objects.filter(action=oauth_action).exists():
        Connection.objects.create(user=outsider, action=oauth_action, access_token="at")
    before = stored(oauth_action)
    url = f"/gpts/{oauth_action.gpt_id}/actions/{oauth_action.id}/auth/"

    response = owner_client.post(url, data)

    assert response.status_code in (200, 302)
    if response.status_code == 200:
        if data:  # an empty POST just shows the dialog again
            assert 'role="alert"' in response.content.decode()
        assert stored(oauth_action) == before
    else:
        saved = Action.objects.get(pk=oauth_action.pk)
        assert saved.auth_type in Action.AuthType.values


def test_an_api_key_with_a_line_break_is_refused_by_the_form(owner_client, oauth_action):
    url = f"/gpts/{oauth_action.gpt_id}/actions/{oauth_action.id}/auth/"
    data = {"auth_type": "api_key", "api_key": "abc\r\ndef", "api_key_auth_type": "bearer"}
    response = owner_client.post(url, data)
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()


# --- (d) the agent API's JSON --------------------------------------------------------------

SEARCH = """\
  /search:
    get:
      operationId: search
      parameters:
        - {name: tags, in: query, schema: {type: array}}
        - {name: page, in: query, schema: {type: integer}}
        - {name: X-Trace, in: header, schema: {type: string}}
      responses: {"200": {description: OK}}
"""
OPERATIONS = ["getForecast", "createAlert", "search"]


@pytest.fixture
def api_action(gpt, upstream, settings):
    settings.ACTIONS_ALLOW_PRIVATE_NETWORKS = True
    action, _ = save_action_schema(gpt=gpt, text=with_server(upstream.url("/v1")) + SEARCH)
    action.auth_type, action.api_key, action.api_key_auth_type = "api_key", "key-1", "bearer"
    action.save()
    return action


def stored_rows() -> dict:
    """Every row the agent API must leave alone (CallRecords may be added)."""
    models = (GPT, Action, Operation, Connection, AlwaysAllow)
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


arguments = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "city": values,
            "body": values,
            "tags": values,
            "X-Trace": values,
            "bogus": values,
        },
    ),
    values,
)
invocations = st.fixed_dictionaries(
    {},
    optional={
        "operation": st.sampled_from(OPERATIONS + ["nope", ""]) | values,
        "arguments": arguments,
        "confirmed": st.booleans() | values,
        "always_allow": st.booleans() | values,
        "bogus": values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    any_text.map(str.encode),
    values.map(lambda v: json.dumps(v).encode()),
    invocations.map(lambda v: json.dumps(v).encode()),
    invocations.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-16")),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=bogus",
            "APPLICATION/JSON",
            "application/vnd.api+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)


def _is_valid_invocation(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("operation") in OPERATIONS


@FUZZ
@given(body=bodies, content_type=content_types)
@example(
    body=b'{"operation": "getForecast", "arguments": {"city": "Oslo"}}',
    content_type="application/json",
)
@example(
    body=b'{"operation": "createAlert", "arguments": {"body": {}}, '
    b'"confirmed": true, "always_allow": true}',
    content_type="application/json",
)
def test_the_agent_api_answers_json_never_500_and_changes_only_call_records(
    owner_client, gpt, api_action, upstream, body, content_type
):
    AlwaysAllow.objects.all().delete()
    before = stored_rows()
    records = CallRecord.objects.count()

    # generic(): post() would re-encode the bytes for the Content-Type's charset.
    response = owner_client.generic(
        "POST", f"/api/v1/gpts/{gpt.id}/invoke", body, content_type=content_type
    )

    assert response.status_code != 500
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    if response.status_code in (200, 502, 504):  # only a request that named a real operation
        assert _is_valid_invocation(body) and content_type.lower().startswith("application/")
    else:
        assert 400 <= response.status_code < 500 and answer["error"]
    after = stored_rows()
    allowed = json.loads(body) if response.status_code == 200 else {}
    if allowed.get("always_allow") and allowed.get("confirmed"):  # the user said Always allow
        after["AlwaysAllow"] = before["AlwaysAllow"]
    assert after == before
    assert CallRecord.objects.count() in (records, records + 1)


def test_a_deeply_nested_query_argument_is_a_400_not_a_500(owner_client, gpt, api_action):
    nested = "[" * 600 + "]" * 600
    body = '{"operation": "search", "arguments": {"tags": ' + nested + "}}"
    response = owner_client.post(
        f"/api/v1/gpts/{gpt.id}/invoke", body, content_type="application/json"
    )
    assert 400 <= response.status_code < 500 and response.json()["error"]


def test_a_nul_in_the_operation_name_is_a_400(owner_client, gpt, api_action):
    body = '{"operation": "getForecast\\u0000"}'
    response = owner_client.post(
        f"/api/v1/gpts/{gpt.id}/invoke", body, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"] == "unknown_operation"


@pytest.mark.parametrize(
    ("operation_id", "field", "value"),
    [
        ("search", "arg-page", HUGE_DIGITS),
        ("search", "arg-tags", "[" * 5_000 + "]" * 5_000),
        ("createAlert", "arg-_body", "[" * 5_000 + "]" * 5_000),
    ],
    ids=["long-integer", "deep-array", "deep-body"],
)
def test_the_run_form_refuses_absurd_input_without_a_500(
    owner_client, gpt, api_action, operation_id, field, value
):
    data = {"action": api_action.id, field: value, "confirm": "allow"}
    response = owner_client.post(f"/g/{gpt.id}/run/{operation_id}/", data)
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
