"""parse_schema over the shared corpus of real OpenAPI documents (../shared/openapi-corpus).

Each file either imports (operation count and server URL as expected) or fails with the
problem an importer must name. The expectations are kept in the table below, so that a
change in behaviour on real documents shows up as a failing test.
"""

from pathlib import Path

import pytest

from actions.openapi import SchemaError, parse_schema

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "openapi-corpus"

if not CORPUS.is_dir():
    pytest.skip(f"the OpenAPI corpus folder {CORPUS} is absent", allow_module_level=True)


def imports(operations: int, server_url: str, warning: str = "") -> dict:
    return {"operations": operations, "server_url": server_url, "warning": warning}


def fails(where: str, message: str) -> dict:
    """`where` and `message` are substrings of one of the problems."""
    return {"where": where, "message": message}


TOO_BIG = fails("(document)", "; the limit is 1 MB.")

EXPECTED = {
    "cookbook-box.json": imports(9, "https://api.box.com/2.0"),
    "cookbook-confluence.yaml": imports(2, "https://api.atlassian.com"),
    "cookbook-github.yaml": imports(2, "https://api.github.com", "header parameter 'Accept'"),
    "cookbook-gong-middleware.yaml": fails("servers[0].url", "placeholder host (<subdomain>."),
    "cookbook-google-calendar.yaml": imports(2, "https://www.googleapis.com/calendar/v3"),
    "cookbook-google-drive.json": imports(3, "https://www.googleapis.com/drive/v3"),
    # /issue is written twice; YAML would silently keep only the second (createSubTask).
    "cookbook-jira.yaml": fails("line 157", "Duplicate key '/issue' (first at line 74)"),
    # Not an OpenAPI document: the OAuth settings the cookbook guides give.
    "cookbook-oauth-settings.json": fails("openapi", "needs `openapi: 3.1.0`"),
    "cookbook-outlook.yaml": imports(5, "https://graph.microsoft.com/v1.0"),
    "cookbook-retool-workflow.yaml": imports(1, "https://api.retool.com/v1", "'apiKeyAuth'"),
    "cookbook-salesforce-service-cloud.yaml": imports(
        3, "https://your_instance.my.salesforce.com", "looks like a placeholder"
    ),
    "cookbook-salesforce-soql.yaml": fails("servers[0].url", "placeholder host (<subdomain>."),
    "public-adyen-binlookup-v54.yaml": imports(
        2, "https://pal-test.adyen.com/pal/servlet/BinLookup/v54"
    ),
    "public-adyen-checkout-v71.yaml": imports(28, "https://checkout-test.adyen.com/v71"),
    # Its operationIds end in "_v2025.0": a dot is not allowed in a tool name.
    "public-box-v2025.0.json": fails(
        "paths./docgen_templates.get.operationId",
        "'get_docgen_templates_v2025.0' of GET /docgen_templates is not a valid tool name",
    ),
    "public-discord.json": fails("(document)", "The schema is 1.18 MB; the limit is 1 MB."),
    "public-django-allauth-headless.yaml": fails(
        "info.description.$ref", "Only local references (#/...) are allowed, not './description.md'"
    ),
    "public-nango.yaml": fails("paths./providers.get.operationId", "has no operationId"),
    "public-oai-link-example.yaml": fails("servers[0].url", "The schema needs servers[0].url"),
    "public-oai-petstore-expanded.yaml": fails(
        "paths./pets/{id}.get.operationId", "'find pet by id' of GET /pets/{id} is not a valid"
    ),
    "public-oai-uspto.yaml": imports(3, "https://developer.uspto.gov/ds-api"),
    "public-openai.yaml": TOO_BIG,
    "public-pagerduty-events-v2.json": imports(2, "https://events.pagerduty.com/v2"),
    "public-pagerduty.json": TOO_BIG,
    "public-spotify.yaml": imports(97, "https://api.spotify.com/v1", "97 operations"),
    "public-twilio-api-v2010.json": TOO_BIG,
    "public-twilio-messaging-v1.yaml": imports(58, "https://messaging.twilio.com", "58 operations"),
}

FILES = sorted(p.name for p in [*CORPUS.glob("*.json"), *CORPUS.glob("*.yaml")])


def test_every_corpus_file_has_an_expectation():
    assert sorted(EXPECTED) == FILES


@pytest.mark.parametrize("name", FILES)
def test_it_imports_or_names_the_problem(name):
    expected = EXPECTED.get(name)
    assert expected, f"add an expectation for {name} to EXPECTED"
    text = (CORPUS / name).read_text(encoding="utf-8")

    if "operations" not in expected:
        with pytest.raises(SchemaError) as raised:
            parse_schema(text)
        problems = raised.value.problems
        assert any(
            expected["where"] in p.where and expected["message"] in p.message for p in problems
        ), "\n".join(map(str, problems))
        return

    parsed = parse_schema(text)
    assert len(parsed.operations) == expected["operations"]
    assert parsed.server_url == expected["server_url"]
    assert parsed.domain == parsed.server_url.split("/")[2].split(":")[0].lower()
    ids = [operation.operation_id for operation in parsed.operations]
    assert len(set(ids)) == len(ids)
    warnings = "\n".join(map(str, parsed.warnings))
    assert expected["warning"] in warnings if expected["warning"] else not warnings
