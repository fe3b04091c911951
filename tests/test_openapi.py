"""parse_schema: schema text → operations, or the problems a builder has to fix."""

import copy
import json
import textwrap
import time

import pytest
import yaml

from actions.openapi import SchemaError, parse_schema

PETS = {
    "openapi": "3.1.0",
    "info": {"title": "Pet store", "version": "1.0.0"},
    "servers": [{"url": "https://api.example.com/v1"}],
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "summary": "List pets",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "The pets"}},
            },
            "post": {
                "operationId": "createPet",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                    },
                },
                "responses": {"201": {"description": "Created"}},
            },
        }
    },
    "components": {
        "schemas": {
            "Pet": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "tag": {"type": "string"}},
            }
        }
    },
}


def pets(**changes) -> dict:
    document = copy.deepcopy(PETS)
    document.update(changes)
    return document


def as_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def problems(text: str, **kwargs) -> list[str]:
    with pytest.raises(SchemaError) as raised:
        parse_schema(text, **kwargs)
    return [str(problem) for problem in raised.value.problems]


def one_operation(operation: dict, path: str = "/things", method: str = "get") -> str:
    operation = {"responses": {"200": {"description": "ok"}}, **operation}
    return as_yaml(pets(paths={path: {method: operation}}))


# ---- formats and syntax -------------------------------------------------------------------


def test_it_accepts_json():
    parsed = parse_schema(json.dumps(PETS, indent=2))

    assert parsed.title == "Pet store"
    assert parsed.server_url == "https://api.example.com/v1"
    assert parsed.domain == "api.example.com"
    assert [(op.operation_id, op.method, op.path) for op in parsed.operations] == [
        ("listPets", "GET", "/pets"),
        ("createPet", "POST", "/pets"),
    ]
    assert parsed.document == PETS
    assert parsed.warnings == []


def test_it_accepts_yaml():
    parsed = parse_schema(as_yaml(PETS))

    assert [op.operation_id for op in parsed.operations] == ["listPets", "createPet"]
    assert parsed.operations[0].summary == "List pets"


def test_it_names_the_line_of_a_yaml_syntax_error():
    text = "openapi: 3.1.0\ninfo:\n  title: x\n   version: [1\n"

    [problem] = problems(text)

    assert problem.startswith("line 4, column ")


def test_it_names_the_line_of_a_json_syntax_error():
    text = '{\n  "openapi": "3.1.0",\n  "info": {"title": "x",}\n}'

    assert problems(text) == [
        "line 3, column 25: Expecting property name enclosed in double quotes."
    ]


def test_it_rejects_duplicate_yaml_keys_with_their_line():
    text = textwrap.dedent(
        """\
        openapi: 3.1.0
        info: {title: x, version: "1"}
        servers: [{url: "https://api.example.com"}]
        paths:
          /a:
            get: {operationId: first, responses: {"200": {description: ok}}}
          /a:
            get: {operationId: second, responses: {"200": {description: ok}}}
        """
    )

    assert problems(text) == [
        "line 7: Duplicate key '/a' (first at line 5): YAML keeps only the last one. Remove one."
    ]


def test_it_rejects_duplicate_json_keys_with_their_path():
    text = json.dumps(PETS).replace('"title": "Pet store"', '"title": "A", "title": "B"')

    [problem] = problems(text)

    assert problem.startswith("info.title: Duplicate key 'title'")


def test_it_allows_yaml_merge_keys_and_unquoted_status_codes():
    text = textwrap.dedent(
        """\
        openapi: 3.0.3
        info: {title: x, version: "1"}
        servers: [{url: "https://api.example.com"}]
        x-common: &common {summary: Shared, responses: {200: {description: ok}}}
        paths:
          /a:
            get: {<<: *common, summary: Own, operationId: getA}
        """
    )

    [operation] = parse_schema(text).operations

    assert operation.summary == "Own"
    assert parse_schema(text).document["x-common"]["responses"] == {"200": {"description": "ok"}}


def test_it_rejects_yaml_alias_bombs_and_loops():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [{', '.join([f'*{previous}'] * 10)}]\n"

    assert problems(bomb) == ["(document): The schema expands to too much data (YAML aliases)."]
    assert problems("a: &a [*a]\n") == [
        "(document): The schema contains itself (a YAML alias loop)."
    ]


def test_it_rejects_empty_text():
    assert problems("  \n\t\n") == ["(document): The schema is empty."]
    assert problems("# only a comment\n") == ["(document): The schema is empty."]


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n- b\n", "a list"), ("https://example.com/openapi.json", "plain text")],
)
def test_it_rejects_a_top_level_that_is_not_a_mapping(text, kind):
    assert problems(text) == [
        f"(document): The schema must be a mapping (openapi, info, paths...), not {kind}."
    ]


def test_it_enforces_the_size_limit_in_utf8_bytes():
    assert problems("x" * 1_180_000) == ["(document): The schema is 1.18 MB; the limit is 1 MB."]
    # 600 characters, 1200 bytes
    assert problems("é" * 600, max_bytes=1000) == [
        "(document): The schema is 1.2 KB; the limit is 1 KB."
    ]


def test_it_names_the_line_of_a_number_too_long_for_python():
    digits = "1" * 4_301
    assert problems('{\n  "openapi": ' + digits + "\n}") == [
        "line 2: A number has more than 4,300 digits."
    ]
    assert problems("openapi: 3.1.0\nx-big: 0x" + "f" * 4_000) == [
        "line 2, column 8: A number has more than 4,300 digits."
    ]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (".inf", "An infinite number (such as 1e400 or .inf) or NaN is not JSON."),
        ("!!binary aGVsbG8=", "Binary data is not JSON; write it as text."),
        ("!!set {a, b}", "A set is not JSON; write it as a list."),
        ('"a\\0b"', "The text contains a NUL character (\\u0000), which cannot be stored."),
    ],
)
def test_it_names_the_place_of_a_value_that_cannot_be_stored(value, words):
    text = one_operation({"operationId": "x", "x-extra": "VALUE"}).replace("VALUE", value)
    assert problems(text) == [f"paths./things.get.x-extra: {words}"]


def test_it_names_the_place_of_an_escaped_nul_in_json():
    document = pets()
    document["paths"]["/pets"]["get"]["summary"] = "List\x00pets"
    [problem] = problems(json.dumps(document))
    assert problem.startswith("paths./pets.get.summary: The text contains a NUL character")


# ---- version and validation ---------------------------------------------------------------


def test_it_rejects_swagger_2():
    text = as_yaml({"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}})

    [problem] = problems(text)

    assert "Swagger 2.0 is not supported" in problem
    assert "OpenAPI 3" in problem


@pytest.mark.parametrize(
    ("version", "expected"),
    [(None, "openapi: The schema needs"), ("3.2.0", "openapi: OpenAPI 3.2.0 is not supported")],
)
def test_it_rejects_other_versions(version, expected):
    document = pets()
    del document["openapi"]
    if version:
        document["openapi"] = version

    [problem] = problems(as_yaml(document))

    assert problem.startswith(expected)


def test_it_reports_validator_errors_at_their_place():
    text = one_operation({"operationId": "getThing", "responses": {"200": {"content": {}}}})

    assert problems(text) == [
        "paths./things.get.responses.200: 'description' is a required property"
    ]


def test_it_locates_errors_found_inside_component_schemas():
    document = pets()
    document["components"]["schemas"]["Pet"]["properties"]["tag"] = {"anyOf": []}

    assert problems(as_yaml(document)) == [
        "components.schemas.Pet.properties.tag.anyOf: [] should be non-empty"
    ]


def test_it_collects_several_problems():
    document = pets(servers=[])
    del document["paths"]["/pets"]["get"]["operationId"]
    document["info"]["description"] = {"$ref": "https://example.com/about.md"}

    wheres = [problem.split(":")[0] for problem in problems(as_yaml(document))]

    assert wheres == ["info.description.$ref", "servers[0].url", "paths./pets.get.operationId"]


# ---- servers ------------------------------------------------------------------------------


@pytest.mark.parametrize("servers", [None, [], [{"description": "no url"}]])
def test_it_requires_a_server_url(servers):
    document = pets(servers=servers)
    if servers is None:
        del document["servers"]

    assert problems(as_yaml(document))[-1] == (
        "servers[0].url: The schema needs servers[0].url, the API's base URL (https://...)."
    )


def test_it_substitutes_server_variables():
    server = {
        "url": "{scheme}://{region}.Example.com:8443/v1/",
        "variables": {"scheme": {"default": "https"}, "region": {"default": "eu"}},
    }

    parsed = parse_schema(as_yaml(pets(servers=[server])))

    assert parsed.server_url == "https://eu.Example.com:8443/v1"
    assert parsed.domain == "eu.example.com"


def test_it_requires_a_default_for_server_variables():
    server = {"url": "https://{tenant}.example.com", "variables": {"tenant": {"enum": ["a"]}}}

    assert problems(as_yaml(pets(servers=[server]))) == [
        "servers[0].variables.tenant: 'default' is a required property",  # the validator
        "servers[0].variables.tenant: The server variable {tenant} needs a default.",
    ]
    undeclared = {"url": "https://{tenant}.example.com"}
    assert problems(as_yaml(pets(servers=[undeclared]))) == [
        "servers[0].variables.tenant: The server variable {tenant} needs a default."
    ]


@pytest.mark.parametrize("url", ["https://<subdomain>.example.com/api", "https://[your-host]/api"])
def test_it_rejects_a_placeholder_host(url):
    [problem] = problems(as_yaml(pets(servers=[{"url": url}])))

    assert problem.startswith("servers[0].url: servers[0].url has a placeholder host")
    assert "replace it with your API's real host" in problem


@pytest.mark.parametrize("url", ["/v1", "ftp://files.example.com", "https://"])
def test_it_requires_an_absolute_http_url(url):
    [problem] = problems(as_yaml(pets(servers=[{"url": url}])))

    assert problem.startswith("servers[0].url: servers[0].url must be an absolute http(s) URL")


def test_it_keeps_a_placeholder_path_but_warns_about_a_placeholder_looking_host():
    server = {"url": "https://your_instance.example.com/ex/<CLOUD_ID>/api"}

    parsed = parse_schema(as_yaml(pets(servers=[server])))

    assert parsed.server_url == "https://your_instance.example.com/ex/<CLOUD_ID>/api"
    assert [w.where for w in parsed.warnings] == ["servers[0].url"]


# ---- operations ---------------------------------------------------------------------------


def test_it_requires_an_operation_id():
    document = pets()
    del document["paths"]["/pets"]["get"]["operationId"]

    assert problems(as_yaml(document)) == [
        "paths./pets.get.operationId: Operation GET /pets has no operationId; "
        "every operation needs one (it is the tool name)."
    ]


def test_it_rejects_duplicate_operation_ids_naming_both_places():
    document = pets()
    document["paths"]["/pets"]["post"]["operationId"] = "listPets"

    assert problems(as_yaml(document)) == [
        "paths./pets.post.operationId: operationId 'listPets' is also used by "
        "paths./pets.get; it must be unique."
    ]


@pytest.mark.parametrize("operation_id", ["find pet by id", "pets.list", "x" * 65, "ünïcode"])
def test_it_rejects_operation_ids_that_are_not_tool_names(operation_id):
    [problem] = problems(one_operation({"operationId": operation_id}))

    assert problem.startswith("paths./things.get.operationId: operationId ")
    assert "is not a valid tool name" in problem


def test_it_requires_at_least_one_operation():
    assert problems(as_yaml(pets(paths={}))) == ["paths: The schema has no operations."]


def test_it_warns_about_more_than_30_operations():
    paths = {
        f"/things/{i}": {
            "get": {"operationId": f"get{i}", "responses": {"200": {"description": "ok"}}}
        }
        for i in range(31)
    }

    parsed = parse_schema(as_yaml(pets(paths=paths)))

    assert len(parsed.operations) == 31
    assert [str(w) for w in parsed.warnings] == [
        "paths: The schema has 31 operations; GPT builders usually allow 30; "
        "assistants work best with fewer."
    ]


@pytest.mark.parametrize(
    ("method", "flag", "consequential", "explicit"),
    [
        ("get", None, False, False),
        ("head", None, False, False),
        ("post", None, True, False),
        ("delete", None, True, False),
        ("get", True, True, True),
        ("post", False, False, False),
    ],
)
def test_it_applies_the_consequential_rules(method, flag, consequential, explicit):
    operation = {"operationId": "doIt"}
    if flag is not None:
        operation["x-openai-isConsequential"] = flag

    [parsed] = parse_schema(one_operation(operation, method=method)).operations

    assert (parsed.is_consequential, parsed.consequential_explicit) == (consequential, explicit)


# ---- parameters and bodies ----------------------------------------------------------------


def test_it_merges_path_level_parameters_and_the_operation_wins():
    item = {
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "verbose", "in": "query", "schema": {"type": "string"}},
        ],
        "get": {
            "operationId": "getThing",
            "parameters": [
                {"name": "verbose", "in": "query", "required": True, "schema": {"type": "boolean"}}
            ],
            "responses": {"200": {"description": "ok"}},
        },
    }

    [operation] = parse_schema(as_yaml(pets(paths={"/things/{id}": item}))).operations

    assert operation.parameters == [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer"},
            "description": "",
        },
        {
            "name": "verbose",
            "in": "query",
            "required": True,
            "schema": {"type": "boolean"},
            "description": "",
        },
    ]


def test_it_takes_the_parameter_schema_from_content():
    content = {"application/json": {"schema": {"type": "object"}}}
    parameters = [{"name": "filter", "in": "query", "content": content, "description": "F"}]

    [operation] = parse_schema(
        one_operation({"operationId": "a", "parameters": parameters})
    ).operations

    assert operation.parameters == [
        {
            "name": "filter",
            "in": "query",
            "required": False,
            "schema": {"type": "object"},
            "description": "F",
        }
    ]


def test_it_skips_cookie_and_authorization_parameters_with_warnings():
    parameters = [
        {"name": "session", "in": "cookie", "schema": {"type": "string"}},
        {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
    ]

    parsed = parse_schema(one_operation({"operationId": "getThing", "parameters": parameters}))

    assert [p["name"] for p in parsed.operations[0].parameters] == ["X-Trace"]
    assert [w.where for w in parsed.warnings] == ["paths./things.get.parameters"] * 2
    assert "cookie parameters are not supported" in parsed.warnings[0].message


def test_it_resolves_local_refs_in_parameters_and_body():
    document = pets()
    document["paths"]["/pets"]["get"]["parameters"] = [{"$ref": "#/components/parameters/Limit"}]
    document["components"]["parameters"] = {
        "Limit": {"name": "limit", "in": "query", "schema": {"$ref": "#/components/schemas/Count"}}
    }
    document["components"]["schemas"]["Count"] = {"type": "integer", "maximum": 100}

    listing, creation = parse_schema(as_yaml(document)).operations

    assert listing.parameters[0]["schema"] == {"type": "integer", "maximum": 100}
    assert creation.request_body == PETS["components"]["schemas"]["Pet"]
    assert creation.request_body_required is True
    assert creation.request_body_content_type == "application/json"
    assert listing.request_body is None


def test_it_keeps_literal_examples_untouched():
    document = pets()
    pet = document["components"]["schemas"]["Pet"]
    pet["example"] = {"$ref": "not a reference, just data"}
    pet["properties"]["default"] = {"$ref": "#/components/schemas/Tag"}
    document["components"]["schemas"]["Tag"] = {"type": "string"}

    creation = parse_schema(as_yaml(document)).operations[1]

    assert creation.request_body["example"] == {"$ref": "not a reference, just data"}
    assert creation.request_body["properties"]["default"] == {"type": "string"}


@pytest.mark.parametrize(
    ("content_types", "chosen"),
    [
        (["application/xml", "application/json; charset=utf-8"], "application/json; charset=utf-8"),
        (["text/plain", "application/merge-patch+json"], "application/merge-patch+json"),
        (["application/x-www-form-urlencoded"], "application/x-www-form-urlencoded"),
    ],
)
def test_it_picks_the_json_media_type_of_the_body(content_types, chosen):
    content = {name: {"schema": {"type": "object", "title": name}} for name in content_types}
    text = one_operation(
        {"operationId": "send", "requestBody": {"content": content}}, method="post"
    )

    [operation] = parse_schema(text).operations

    assert operation.request_body == {"type": "object", "title": chosen}
    assert operation.request_body_content_type == chosen
    assert operation.request_body_required is False


def test_it_warns_when_a_body_has_no_json_media_type():
    content = {"multipart/form-data": {}, "application/x-www-form-urlencoded": {}}
    text = one_operation(
        {"operationId": "send", "requestBody": {"content": content}}, method="post"
    )

    parsed = parse_schema(text)

    assert parsed.operations[0].request_body is None
    assert [w.where for w in parsed.warnings] == ["paths./things.post.requestBody"]


def test_it_does_not_hang_on_recursive_schemas():
    document = pets()
    schemas = document["components"]["schemas"]
    schemas["Pet"]["properties"]["children"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Pet"},
    }
    schemas["Pet"]["properties"]["family"] = {"allOf": [{"$ref": "#/components/schemas/Family"}]}
    schemas["Family"] = {"type": "array", "items": {"$ref": "#/components/schemas/Family"}}

    started = time.monotonic()
    body = parse_schema(as_yaml(document)).operations[1].request_body

    assert time.monotonic() - started < 5
    assert body["properties"]["children"] == {"type": "array", "items": {}}
    assert body["properties"]["family"] == {"allOf": [{"type": "array", "items": {}}]}


# ---- references ---------------------------------------------------------------------------


def test_it_rejects_external_refs():
    document = pets()
    document["info"]["description"] = {"$ref": "./description.md"}
    document["components"]["schemas"]["Pet"]["properties"]["tag"] = {
        "$ref": "https://example.com/schemas/tag.json"
    }

    assert problems(as_yaml(document)) == [
        "info.description.$ref: Only local references (#/...) are allowed, not './description.md'.",
        "components.schemas.Pet.properties.tag.$ref: Only local references (#/...) are allowed, "
        "not 'https://example.com/schemas/tag.json'.",
    ]


def test_it_rejects_dangling_and_looping_local_refs():
    document = pets()
    document["paths"]["/pets"]["get"]["parameters"] = [{"$ref": "#/components/parameters/A"}]
    document["components"]["parameters"] = {
        "A": {"$ref": "#/components/parameters/B"},
        "B": {"$ref": "#/components/parameters/A"},
    }
    document["components"]["schemas"]["Pet"]["properties"]["tag"] = {
        "$ref": "#/components/schemas/Missing"
    }

    loop = "leads back to itself through other $refs."
    assert problems(as_yaml(document)) == [
        f"paths./pets.get.parameters[0].$ref: The reference '#/components/parameters/A' {loop}",
        "components.schemas.Pet.properties.tag.$ref: The reference "
        "'#/components/schemas/Missing' points to nothing in this schema.",
        f"components.parameters.A.$ref: The reference '#/components/parameters/B' {loop}",
        f"components.parameters.B.$ref: The reference '#/components/parameters/A' {loop}",
    ]


# ---- security -----------------------------------------------------------------------------


def test_it_warns_about_security_requirements_without_a_scheme():
    document = pets(security=[{"apiKeyAuth": []}, {"bearer": []}])
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}

    parsed = parse_schema(as_yaml(document))

    assert [w.where for w in parsed.warnings] == ["security[0].apiKeyAuth"]
    assert (
        "'apiKeyAuth' names no scheme in components.securitySchemes" in parsed.warnings[0].message
    )


def test_it_leaves_out_header_parameters_http_itself_owns_or_cannot_carry():
    text = """\
openapi: 3.1.0
info: {title: Headers, version: "1"}
servers: [{url: "https://api.example.com"}]
paths:
  /x:
    get:
      operationId: getX
      parameters:
        - {name: Host, in: header, schema: {type: string}}
        - {name: Transfer-Encoding, in: header, schema: {type: string}}
        - {name: "X Bad Name", in: header, schema: {type: string}}
        - {name: X-Trace, in: header, schema: {type: string}}
      responses: {"200": {description: OK}}
"""
    parsed = parse_schema(text)
    assert [p["name"] for p in parsed.operations[0].parameters] == ["X-Trace"]
    warnings = "\n".join(map(str, parsed.warnings))
    assert "'Host' of GET /x is left out: that header belongs to HTTP itself" in warnings
    assert "'X Bad Name' of GET /x is left out: it is not a valid HTTP header name" in warnings
