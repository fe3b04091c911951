"""Schema text → operations. No database, no network.

Interface (used by the editor, the GPT file importer and the executor):

    parse_schema(text: str, *, max_bytes: int = 1_000_000) -> ParsedSchema
        raises SchemaError(problems=[SchemaProblem(where, message), ...])

`where` names the place in the schema a builder can find: "line 12" for syntax errors,
"paths./pets.get.operationId" style paths for structural ones, "servers[0].url", "(document)".

The work is done in three modules, in pipeline order: openapi_load.py (text → document, and
the problem types), this one (OpenAPI version, validation against the specification, servers)
and openapi_operations.py ($refs → operations). Import from this one.
"""

import re
from dataclasses import dataclass, field
from itertools import islice
from urllib.parse import urlsplit

from jsonschema_path import SchemaPath
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from openapi_spec_validator.validation.exceptions import DuplicateOperationIDError

from actions.openapi_load import SchemaError, SchemaProblem, _fail, _load, _where
from actions.openapi_operations import (
    METHODS,
    OperationSpec,
    _check_refs,
    _operations,
    _security_warnings,
    _text,
)

# The interface; the problem types and OperationSpec are defined where they are first made.
__all__ = [
    "METHODS",
    "OperationSpec",
    "ParsedSchema",
    "SchemaError",
    "SchemaProblem",
    "parse_schema",
]


@dataclass(frozen=True)
class ParsedSchema:
    document: dict
    title: str
    server_url: str
    domain: str  # host of server_url, lower case, no port
    operations: list[OperationSpec]
    warnings: list[SchemaProblem] = field(default_factory=list)


_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_MAX_VALIDATION_ERRORS, _MAX_PROBLEMS = 10, 20


def parse_schema(text: str, *, max_bytes: int = 1_000_000) -> ParsedSchema:
    """Parse and check an OpenAPI 3.0/3.1 document given as JSON or YAML text.

    Returns its operations (each becomes a tool) with parameters and JSON request body
    schemas, local $refs inlined; or raises SchemaError listing what the builder has to fix,
    each problem with the place it is at. Non-blocking advice goes to ParsedSchema.warnings.
    """
    try:
        document, problems = _load(text, max_bytes)
        version = _check_version(document)
        ref_problems = _check_refs(document)
        problems += ref_problems
        if not ref_problems:  # the validator would try to follow broken or remote $refs
            problems += _validate(document, version)
        server_url, domain, warnings = _server(document, problems)
        operations = _operations(document, problems, warnings)
        warnings += _security_warnings(document)
    except RecursionError:
        _fail("(document)", "The schema is nested too deeply.")
    if len(problems) > _MAX_PROBLEMS:
        more = len(problems) - _MAX_PROBLEMS + 1
        problems[_MAX_PROBLEMS - 1 :] = [SchemaProblem("(document)", f"… and {more} more.")]
    if problems:
        raise SchemaError(problems)
    info = document.get("info")
    return ParsedSchema(
        document=document,
        title=_text(info.get("title")) if isinstance(info, dict) else "",
        server_url=server_url,
        domain=domain,
        operations=operations,
        warnings=list(dict.fromkeys(warnings)),  # path-level parameters repeat per operation
    )


# ---- document checks ----------------------------------------------------------------------


def _check_version(document: dict) -> str:
    version = str(document.get("openapi", ""))
    if re.match(r"3\.[01](\.|$)", version):
        return version
    if "swagger" in document:
        _fail("swagger", "Swagger 2.0 is not supported: convert the schema to OpenAPI 3.")
    if not version:
        _fail("openapi", "The schema needs `openapi: 3.1.0` (or 3.0.x) at the top.")
    _fail("openapi", f"OpenAPI {version} is not supported; use 3.1.x or 3.0.x.")


def _locating(validator_cls):
    """The library's validator, made to never fetch a file or URL named by a $ref, and to
    remember where its keyword checks were (their errors carry no path)."""

    def locating(keyword_cls):
        class Located(keyword_cls):
            def __call__(self, *args, **kwargs):
                place = next((a.parts for a in args if isinstance(a, SchemaPath)), ())
                for error in super().__call__(*args, **kwargs):
                    if not hasattr(error, "openapi_place"):  # the innermost place wins
                        error.openapi_place = place
                    yield error

        return Located

    keywords = {name: locating(cls) for name, cls in validator_cls.keyword_validators.items()}
    attributes = {"resolver_handlers": {}, "keyword_validators": keywords}
    return type(validator_cls.__name__, (validator_cls,), attributes)


_VALIDATORS = {"3.0": _locating(OpenAPIV30SpecValidator), "3.1": _locating(OpenAPIV31SpecValidator)}


def _validate(document: dict, version: str) -> list[SchemaProblem]:
    validator = _VALIDATORS[version[:3]](document)
    # Not validator.iter_errors(): it is lru_cached per instance, which would keep every
    # document ever validated in memory.
    errors = list(islice(validator.schema_validator.iter_errors(document), _MAX_VALIDATION_ERRORS))
    if errors:  # the keyword checks below assume a document that fits the meta-schema
        return [_problem_from(error) for error in errors]
    problems = []
    try:
        for error in validator.root_validator(validator.schema_path):
            # Duplicate operationIds get a clearer problem from _operations().
            if not isinstance(error, DuplicateOperationIDError):
                problems.append(_problem_from(error))
            if len(problems) >= _MAX_VALIDATION_ERRORS:
                break
    except RecursionError:
        pass  # its checks loop on some legal recursive schemas (allOf a self-nesting array)
    except Exception as error:  # the library may choke on odd input: a problem, not a crash
        problems.append(SchemaProblem("(document)", f"The schema could not be checked: {error}"))
    return problems


def _problem_from(error) -> SchemaProblem:
    # "Not valid under any of the given schemas": go down to one concrete mistake, skipping
    # the branch that only says a Reference Object needs "$ref".
    while error.context:
        others = [e for e in error.context if "'$ref'" not in e.message] or error.context
        error = next((e for e in others if e.validator == "required"), others[0])
    where = _where([*getattr(error, "openapi_place", ()), *error.absolute_path])
    message, instance = error.message, repr(error.instance)
    if len(instance) > 80:
        message = message.replace(instance, instance[:60] + " …")
    return SchemaProblem(where or "(document)", message[:200])


def _server(document: dict, problems: list) -> tuple[str, str, list[SchemaProblem]]:
    servers = document.get("servers")
    first = servers[0] if isinstance(servers, list) and servers else {}
    url = first.get("url") if isinstance(first, dict) else None
    if not isinstance(url, str) or not url.strip():
        message = "The schema needs servers[0].url, the API's base URL (https://...)."
        problems.append(SchemaProblem("servers[0].url", message))
        return "", "", []
    variables = first.get("variables") if isinstance(first.get("variables"), dict) else {}

    def substitute(match):
        variable = variables.get(match.group(1))
        if isinstance(variable, dict) and variable.get("default") is not None:
            return str(variable["default"])
        message = f"The server variable {match.group(0)} needs a default."
        problems.append(SchemaProblem(f"servers[0].variables.{match.group(1)}", message))
        return match.group(0)

    count = len(problems)
    url = re.sub(r"\{([^{}]*)\}", substitute, url.strip()).rstrip("/")
    if len(problems) > count:  # a variable left in: the checks below would only repeat that
        return url, "", []
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. "https://[your-host]/": brackets are for IPv6 only
        parts, host = None, url.split("://", 1)[-1].split("/", 1)[0]
    if parts is None or not _HOST.fullmatch(host) or parts.scheme not in ("http", "https"):
        message = f"servers[0].url must be an absolute http(s) URL with a host, not '{url}'."
        if re.search(r"[<>\[\]{}]", host):
            message = f"servers[0].url has a placeholder host ({host}): replace it with "
            message += "your API's real host."
        problems.append(SchemaProblem("servers[0].url", message))
    warnings = []
    if re.search(r"(^|\.)your[_-]", host):
        message = f"The host {host} looks like a placeholder; is it your API's real host?"
        warnings.append(SchemaProblem("servers[0].url", message))
    return url, host, warnings
