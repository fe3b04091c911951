"""Document → operations: the $ref handling and the operation list of parse_schema (openapi.py).

Local $refs are looked up ("#/components/..."), checked (remote ones, dangling ones and loops
are problems) and inlined into each operation's parameter and request body schemas, within a
node budget and one level deep for recursive schemas. Each operation under `paths` becomes an
OperationSpec (re-exported by openapi.py): its operationId checked as a tool name, path-level
and own parameters merged, cookie and reserved header parameters left out with a warning, the
JSON request body chosen, and whether calling it is consequential. Security requirements that
name no scheme become warnings. No database, no network.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from actions.openapi_load import SchemaProblem, _is_literal, _walk, _where
from actions.validation import FORBIDDEN_HEADERS, HEADER_TOKEN  # the dialog's header rules


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


METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_NOT_CONSEQUENTIAL = {"GET", "HEAD", "OPTIONS"}
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what function-calling APIs accept
# OpenAPI says these header parameters SHALL be ignored; and the assistant must never be the
# one to fill in Authorization.

_IGNORED_HEADERS = {"accept", "content-type", "authorization"}
_ADVISED_OPERATIONS = 30
# Node budget: inlining $refs can make a small document expand exponentially, which would
# blow up json.dumps or a tool definition later.
_MAX_INLINED_NODES = 20_000
_MISSING = object()


def _text(value) -> str:
    return value if isinstance(value, str) else ""


# ---- $refs --------------------------------------------------------------------------------


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
        reason = _left_out(name, location)
        if reason:
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


def _left_out(name: str, location: str | None) -> str:
    """Why a parameter is not offered to the assistant, or "" when it is."""
    if location == "cookie":
        return "cookie parameters are not supported"
    if location != "header":
        return ""
    if name.lower() in _IGNORED_HEADERS:
        return "authentication and content types are set by the action"
    if not HEADER_TOKEN.match(name):
        return "it is not a valid HTTP header name"
    if name.lower() in FORBIDDEN_HEADERS:
        return "that header belongs to HTTP itself, not to the API"
    return ""


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
