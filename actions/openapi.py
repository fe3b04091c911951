"""Schema text → operations. No database, no network.

Interface (used by the editor, the GPT file importer and the executor):

    parse_schema(text: str, *, max_bytes: int = 1_000_000) -> ParsedSchema
        raises SchemaError(problems=[SchemaProblem(where, message), ...])

`where` names the place in the schema a builder can find: "line 12" for syntax errors,
"paths./pets.get.operationId" style paths for structural ones, "servers[0].url", "(document)".
"""

import json
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import NoReturn
from urllib.parse import unquote, urlsplit

import yaml
from jsonschema_path import SchemaPath
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from openapi_spec_validator.validation.exceptions import DuplicateOperationIDError

from actions import strictjson


@dataclass(frozen=True)
class SchemaProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class SchemaError(ValueError):
    def __init__(self, problems: list[SchemaProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class OperationSpec:
    operation_id: str
    method: str  # upper case: GET, POST, ...
    path: str
    summary: str = ""
    description: str = ""
    # Each: {"name", "in" (path/query/header), "required": bool, "schema": {...}, "description"}
    parameters: list = field(default_factory=list)
    request_body: dict | None = None  # JSON schema of the application/json body, $refs resolved
    request_body_required: bool = False
    is_consequential: bool = False
    consequential_explicit: bool = False  # x-openai-isConsequential: true, literally
    request_body_content_type: str = ""  # the media type request_body was taken from


@dataclass(frozen=True)
class ParsedSchema:
    document: dict
    title: str
    server_url: str
    domain: str  # host of server_url, lower case, no port
    operations: list[OperationSpec]
    warnings: list[SchemaProblem] = field(default_factory=list)


METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_NOT_CONSEQUENTIAL = {"GET", "HEAD", "OPTIONS"}
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what function-calling APIs accept
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
# OpenAPI says these header parameters SHALL be ignored; and the assistant must never be the
# one to fill in Authorization.
_IGNORED_HEADERS = {"accept", "content-type", "authorization"}
_MAX_VALIDATION_ERRORS, _MAX_PROBLEMS, _ADVISED_OPERATIONS = 10, 20, 30
# Node budgets: YAML aliases can make a small text expand exponentially, and so can inlining
# $refs; either would blow up the validator, json.dumps or a tool definition later.
_MAX_EXPANDED_NODES, _MAX_INLINED_NODES = 2_000_000, 20_000
# Values that are data, not schema structure: a "$ref" inside them is not a reference.
_LITERAL_KEYS = {"example", "default", "enum", "const"}
_NAME_MAPS = {"properties", "patternProperties", "$defs", "definitions"}
_MISSING = object()


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


def _fail(where: str, message: str) -> NoReturn:
    raise SchemaError([SchemaProblem(where, message)])


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


# ---- text → document ----------------------------------------------------------------------


def _human_size(size: int, other: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        number, other_number = (f"{n / scale:.2f}".rstrip("0").rstrip(".") for n in (size, other))
        # Exact bytes when rounding would make both look the same ("1 MB; the limit is 1 MB").
        if size >= scale and number != other_number:
            return f"{number} {unit}"
    return f"{size:,} bytes"


def _load(text: str, max_bytes: int) -> tuple[dict, list[SchemaProblem]]:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        a, b = _human_size(size, max_bytes), _human_size(max_bytes, size)
        _fail("(document)", f"The schema is {a}; the limit is {b}.")
    text = text.removeprefix("\ufeff")  # a BOM from a text editor; json.loads rejects it
    if not text.strip():
        _fail("(document)", "The schema is empty.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # only from a str built in Python, never from a file
        where = f"line {text.count(chr(10), 0, error.start) + 1}"
        _fail(where, "The text has a lone surrogate character, which is not valid Unicode.")
    load = _load_json if text.lstrip().startswith("{") else _load_yaml
    document, problems = load(text)
    if document is None:
        _fail("(document)", "The schema is empty.")
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else "plain text"
        _fail("(document)", f"The schema must be a mapping (openapi, info, paths...), not {kind}.")
    # What is stored (operations as JSON, in PostgreSQL too) must be plain JSON without NUL.
    found = strictjson.first_problem(document, allow_nul=False)
    if found:
        path, reason = found
        _fail(_where(path) or "(document)", reason[:1].upper() + reason[1:] + ".")
    return document, problems


def _long_number(text: str) -> NoReturn:
    runs = re.finditer(r"\d+", text)
    match = next((run for run in runs if len(run.group()) > strictjson.MAX_DIGITS), None)
    where = f"line {text.count(chr(10), 0, match.start()) + 1}" if match else "(document)"
    _fail(where, f"A number has more than {strictjson.MAX_DIGITS:,} digits.")


def _load_json(text: str) -> tuple[object, list[SchemaProblem]]:
    repeated = []  # (object, key): json.loads would keep the last value silently

    def pairs_hook(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj:
                repeated.append((obj, key))
            obj[key] = value
        return obj

    try:
        document = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as error:
        _fail(f"line {error.lineno}, column {error.colno}", f"{error.msg}.")
    except ValueError:  # Python reads no int of over 4,300 digits
        _long_number(text)
    # The hook sees no position, so look up where each object with a repeated key sits.
    places = {id(node): path for path, node in _walk(document)} if repeated else {}
    message = "Duplicate key '{}': only the last one would be kept. Remove or rename one."
    problems = [
        SchemaProblem(_where([*places.get(id(obj), []), key]), message.format(key))
        for obj, key in repeated
    ]
    return document, problems


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe loader that records duplicate keys and keeps the document JSON-compatible."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[str, int, int]] = []  # key, line, first line

    def construct_mapping(self, node, deep=False):
        first_line = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            # Keys from a `<<` merge may be overridden by explicit keys: not duplicates.
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first_line:
                    self.duplicates.append((key, line, first_line[key]))
                first_line.setdefault(key, line)
        mapping = super().construct_mapping(node, deep=deep)
        # `200:` is an int in YAML; JSON (and so the validator) only has string keys.
        return {key if isinstance(key, str) else str(key): value for key, value in mapping.items()}

    def construct_yaml_int(self, node):
        try:
            value = super().construct_yaml_int(node)
            str(value)  # a hex or octal int is read whatever its length, but not written
        except ValueError:
            message = f"a number has more than {strictjson.MAX_DIGITS:,} digits"
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None
        return value


# Dates stay text, as in JSON, so that the document can be validated and stored as JSON.
_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)


def _load_yaml(text: str) -> tuple[object, list[SchemaProblem]]:
    loader = _YamlLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(part for part in (error.context, error.problem) if part)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        _fail(where, message[:1].upper() + message[1:] + ".")
    except yaml.YAMLError as error:
        _fail("(document)", str(error)[:200])
    finally:
        loader.dispose()
    if "&" in text and "*" in text:  # only anchors with aliases can share or loop
        _check_expansion(document, {}, set())
    message = "Duplicate key '{}' (first at line {}): YAML keeps only the last one. Remove one."
    problems = [
        SchemaProblem(f"line {line}", message.format(key, first))
        for key, line, first in loader.duplicates
    ]
    return document, problems


def _check_expansion(node, sizes: dict, active: set) -> int:
    """Count nodes as if YAML aliases were copies; reject loops and alias bombs."""
    if not isinstance(node, dict | list):
        return 1
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in active:
        _fail("(document)", "The schema contains itself (a YAML alias loop).")
    active.add(id(node))
    children = node.values() if isinstance(node, dict) else node
    total = sizes[id(node)] = 1 + sum(_check_expansion(c, sizes, active) for c in children)
    active.discard(id(node))
    if total > _MAX_EXPANDED_NODES:
        _fail("(document)", "The schema expands to too much data (YAML aliases).")
    return total


def _walk(document):
    """Yield (path, node) for every dict and list that is schema structure, not data."""
    stack = [([], document)]
    while stack:
        path, node = stack.pop()
        yield path, node
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in reversed(list(children)):  # reversed: pop in document order
            if isinstance(child, dict | list) and not _is_literal(path, key, child):
                stack.append(([*path, key], child))


def _is_literal(path: list, key, child) -> bool:
    if path and path[-1] in _NAME_MAPS:  # a property called "default" is still a schema
        return False
    if key in _LITERAL_KEYS or (key == "examples" and isinstance(child, list)):
        return True
    return key == "value" and len(path) > 1 and path[-2] == "examples"  # an Example Object


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


def _lookup(document: dict, ref: str):
    if ref != "#" and not ref.startswith("#/"):
        return _MISSING  # a remote reference, or a 3.1 "#anchor" (not supported)
    node = document
    for token in ref[2:].split("/") if ref != "#" else ():
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def _check_refs(document: dict) -> list[SchemaProblem]:
    problems = []
    for path, node in _walk(document):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if isinstance(ref, str) and not ref.startswith("#"):
            message = f"Only local references (#/...) are allowed, not '{ref}'."
            problems.append(SchemaProblem(_where([*path, "$ref"]), message))
        elif isinstance(ref, str) and _lookup(document, ref) is _MISSING:
            message = f"The reference '{ref}' points to nothing in this schema."
            problems.append(SchemaProblem(_where([*path, "$ref"]), message))
        elif isinstance(ref, str) and _deref(document, node) is None:
            message = f"The reference '{ref}' leads back to itself through other $refs."
            problems.append(SchemaProblem(_where([*path, "$ref"]), message))
    return problems


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


# ---- operations ---------------------------------------------------------------------------


def _iter_operations(document: dict):
    paths = document.get("paths")
    for path, item in paths.items() if isinstance(paths, dict) else ():
        item = _deref(document, item)  # 3.1 allows a $ref for a whole path item
        for method in METHODS:
            if isinstance(item, dict) and isinstance(item.get(method), dict):
                yield path, method, item, item[method]


def _operations(document: dict, problems: list, warnings: list) -> list[OperationSpec]:
    operations, places = [], {}
    for path, method, item, op in _iter_operations(document):
        where, label = _where(["paths", path, method]), f"{method.upper()} {path}"
        operation_id = op.get("operationId")
        first = places.setdefault(operation_id, where) if isinstance(operation_id, str) else None
        message = _operation_id_problem(operation_id, label, first if first != where else None)
        if message:
            problems.append(SchemaProblem(f"{where}.operationId", message))
        inliner = _Inliner(document, warnings)
        parameters = _parameters(inliner, item.get("parameters"), op, where, label)
        body, required, content_type = _request_body(inliner, op.get("requestBody"), where, label)
        if inliner.truncated:
            message = f"The schemas of {label} are very large; deep parts were left out."
            warnings.append(SchemaProblem(where, message))
        explicit = op.get("x-openai-isConsequential")
        operations.append(
            OperationSpec(
                operation_id=_text(operation_id),
                method=method.upper(),
                path=path,
                summary=_text(op.get("summary")),
                description=_text(op.get("description")),
                parameters=parameters,
                request_body=body,
                request_body_required=required,
                is_consequential=(
                    explicit
                    if isinstance(explicit, bool)
                    else method.upper() not in _NOT_CONSEQUENTIAL
                ),
                consequential_explicit=explicit is True,
                request_body_content_type=content_type,
            )
        )
    if not operations:
        problems.append(SchemaProblem("paths", "The schema has no operations."))
    elif len(operations) > _ADVISED_OPERATIONS:
        message = f"The schema has {len(operations)} operations; GPT builders usually allow 30; "
        warnings.append(SchemaProblem("paths", message + "assistants work best with fewer."))
    return operations


def _operation_id_problem(operation_id, label: str, first_place: str | None) -> str:
    if operation_id is None:
        return (
            f"Operation {label} has no operationId; every operation needs one "
            "(it is the tool name)."
        )
    if not isinstance(operation_id, str) or not _TOOL_NAME.fullmatch(operation_id):
        return (
            f"operationId '{operation_id}' of {label} is not a valid tool name: "
            "use 1-64 letters, digits, _ or -."
        )
    if first_place:
        return f"operationId '{operation_id}' is also used by {first_place}; it must be unique."
    return ""


def _parameters(inliner, path_level, op: dict, where: str, label: str) -> list[dict]:
    merged = {}  # (name, in) → parameter; the operation's own win over the path item's
    for source in (path_level, op.get("parameters")):
        for param in map(inliner.deref, source if isinstance(source, list) else ()):
            # `in` must be text to be part of the key; the validator names any other value.
            if (
                isinstance(param, dict)
                and isinstance(param.get("name"), str)
                and isinstance(param.get("in"), str | None)
            ):
                merged[(param["name"], param.get("in"))] = param
    result = []
    for (name, location), param in merged.items():
        if location == "cookie" or (location == "header" and name.lower() in _IGNORED_HEADERS):
            reason = (
                "cookie parameters are not supported"
                if location == "cookie"
                else ("authentication and content types are set by the action")
            )
            message = f"The {location} parameter '{name}' of {label} is left out: {reason}."
            inliner.warnings.append(SchemaProblem(f"{where}.parameters", message))
        elif location in ("path", "query", "header"):  # else the validator has said what's wrong
            result.append(
                {
                    "name": name,
                    "in": location,
                    "required": location == "path" or param.get("required") is True,
                    "schema": inliner.schema(_parameter_schema(param)),
                    "description": _text(param.get("description")),
                }
            )
    return result


def _parameter_schema(param: dict) -> dict:
    schema = param.get("schema")
    if not isinstance(schema, dict) and isinstance(param.get("content"), dict):
        media = next(iter(param["content"].values()), None)  # `content` instead of `schema`
        schema = media.get("schema") if isinstance(media, dict) else None
    return schema if isinstance(schema, dict) else {"type": "string"}


def _request_body(inliner, raw, where: str, label: str) -> tuple[dict | None, bool, str]:
    body = inliner.deref(raw)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict):
        return None, False, ""
    types = [name for name, media in content.items() if isinstance(media, dict)]
    bases = [name.split(";")[0].strip().lower() for name in types]
    pairs = list(zip(types, bases, strict=True))
    chosen = next((t for t, b in pairs if b == "application/json"), None)
    chosen = chosen or next((t for t, b in pairs if b.endswith("+json")), None)
    chosen = chosen or (types[0] if len(types) == 1 else None)
    if chosen is None:  # e.g. only multipart/form-data and x-www-form-urlencoded
        message = f"The request body of {label} has no JSON media type; it is left out."
        inliner.warnings.append(SchemaProblem(f"{where}.requestBody", message))
        return None, False, ""
    schema = content[chosen].get("schema")
    schema = inliner.schema(schema) if isinstance(schema, dict) else {}
    return schema, body.get("required") is True, chosen


def _deref(document: dict, node):
    """Follow a chain of $refs (a parameter or body defined in components): None if it loops,
    _MISSING if it leads nowhere."""
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        if node["$ref"] in seen:
            return None
        seen.add(node["$ref"])
        node = _lookup(document, node["$ref"])
    return node


class _Inliner:
    """Copies schemas with local $refs replaced by their targets, within a node budget."""

    def __init__(self, document: dict, warnings: list):
        self.document, self.warnings, self.nodes, self.truncated = document, warnings, 0, False

    def deref(self, node):
        return _deref(self.document, node)

    def schema(self, node, expanding: frozenset = frozenset(), parent=None):
        self.nodes += 1
        if isinstance(node, list):
            return [self.schema(item, expanding) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {
                key: value
                if _is_literal([parent], key, value)
                else self.schema(value, expanding, key)
                for key, value in node.items()
            }
        # A recursive schema stops after one level, and past the budget every $ref stops.
        if ref in expanding or self.nodes > _MAX_INLINED_NODES:
            self.truncated = self.truncated or ref not in expanding
            return {}
        target = _lookup(self.document, ref)
        resolved = self.schema({} if target is _MISSING else target, expanding | {ref})
        siblings = {key: value for key, value in node.items() if key != "$ref"}  # 3.1 allows
        if siblings and isinstance(resolved, dict):
            resolved = {**resolved, **self.schema(siblings, expanding)}
        return resolved


def _security_warnings(document: dict) -> list[SchemaProblem]:
    components = document.get("components")
    schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    schemes = schemes if isinstance(schemes, dict) else {}
    places = [("security", document.get("security"))] + [
        (_where(["paths", path, method, "security"]), op.get("security"))
        for path, method, _, op in _iter_operations(document)
    ]
    warnings, named = [], set()
    for where, requirements in places:
        for i, requirement in enumerate(requirements if isinstance(requirements, list) else ()):
            for name in requirement if isinstance(requirement, dict) else ():
                if name not in schemes and name not in named:
                    named.add(name)
                    message = f"The security requirement '{name}' names no scheme in "
                    message += "components.securitySchemes; set up authentication in the action."
                    warnings.append(SchemaProblem(f"{where}[{i}].{name}", message))
    return warnings
