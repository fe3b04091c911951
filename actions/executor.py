"""Operation + arguments + user → the HTTP call the schema describes, with the action's credentials.

Credentials go only to the action's own server URL; every run leaves a CallRecord (never a
secret, a token or a body). Failures are InvocationErrors whose `payload()` is the agent API's
error body and whose message is readable on a page.
"""

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import jsonschema

from actions import outbound, strictjson
from actions.fields import SecretUnreadable, reveal
from actions.models import Action, AlwaysAllow, CallRecord, Operation

BODY_ARGUMENT = "body"
MAX_ARGUMENT_DEPTH = 100  # nested lists and objects: far beyond any real API's arguments
# What HTTP carries in a header value (RFC 9110 field-value, Latin-1 as http.client sends it).
_HEADER_VALUE = re.compile(r"([\x21-\x7e\x80-\xff][\t\x20-\x7e\x80-\xff]*)?")
KEPT_HEADERS = {
    "content-type",
    "content-length",
    "retry-after",
    "location",
    "etag",
    "last-modified",
    "link",
    "x-request-id",
}
KEPT_HEADER_PREFIXES = ("x-ratelimit-", "ratelimit-")


class InvocationError(Exception):
    code = "error"
    http_status = 400
    outcome = CallRecord.Outcome.INVALID_ARGUMENTS

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message, self.extra = message, extra

    def payload(self) -> dict:
        return {"error": self.code, "detail": self.message, **self.extra}


class InvalidArguments(InvocationError):
    code = "invalid_arguments"


class ConfirmationRequired(InvocationError):
    code, http_status = "confirmation_required", 428
    outcome = CallRecord.Outcome.CONFIRMATION_REQUIRED


class SignInRequired(InvocationError):
    code, http_status = "sign_in_required", 401
    outcome = CallRecord.Outcome.SIGN_IN_REQUIRED


class UpstreamFailed(InvocationError):
    code, http_status = "upstream_error", 502
    outcome = CallRecord.Outcome.UPSTREAM_ERROR


class AddressRefused(UpstreamFailed):
    outcome = CallRecord.Outcome.REFUSED


class UpstreamTimedOut(InvocationError):
    code, http_status = "upstream_timeout", 504
    outcome = CallRecord.Outcome.UPSTREAM_TIMEOUT


class ActionMisconfigured(InvocationError):
    code, http_status = "action_misconfigured", 503
    outcome = CallRecord.Outcome.MISCONFIGURED


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: Any
    truncated: bool
    duration_ms: int

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "headers": self.headers,
            "body": self.body,
            "truncated": self.truncated,
            "duration_ms": self.duration_ms,
        }


# --- tools ---------------------------------------------------------------------------------


def tool_parameters(operation: Operation) -> dict:
    """The JSON schema of an operation's arguments: one property per parameter, plus `body`."""
    properties, required = {}, []
    for param in operation.parameters:
        schema = dict(param.get("schema") or {"type": "string"})
        if param.get("description") and "description" not in schema:
            schema["description"] = param["description"]
        properties[param["name"]] = schema
        if param.get("required"):
            required.append(param["name"])
    if operation.request_body is not None:
        properties[BODY_ARGUMENT] = operation.request_body
        if operation.request_body_required:
            required.append(BODY_ARGUMENT)
    return {"type": "object", "properties": properties, "required": required}


def tool_definition(operation: Operation) -> dict:
    description = (
        operation.summary or operation.description or f"{operation.method} {operation.path}"
    )
    return {
        "type": "function",
        "function": {
            "name": operation.operation_id,
            "description": description[:1024],
            "parameters": tool_parameters(operation),
        },
    }


def check_arguments(operation: Operation, arguments: Any) -> dict:
    """Arguments checked against the schema; InvalidArguments names the first problems."""
    if not isinstance(arguments, dict):
        raise InvalidArguments("arguments must be a JSON object")
    schema = tool_parameters(operation)
    unknown = sorted(set(arguments) - set(schema["properties"]))
    if unknown:
        raise InvalidArguments(f"unknown argument {unknown[0]!r} for {operation.operation_id}")
    missing = [name for name in schema["required"] if arguments.get(name) is None]
    if missing:
        raise InvalidArguments(f"missing required argument {missing[0]!r}")
    # Before the schema check, which may recurse: only what can be sent as JSON, and text.
    problem = strictjson.first_problem(arguments, max_depth=MAX_ARGUMENT_DEPTH)
    if problem:
        path, reason = problem
        raise InvalidArguments(f"argument {path[0] if path else 'arguments'!r}: {reason}")
    try:
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(arguments), key=lambda e: e.path
        )
    except (jsonschema.SchemaError, jsonschema.exceptions._RefResolutionError):
        errors = []  # the builder's schema is not valid JSON Schema: only presence is checked
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        raise InvalidArguments(f"argument {where!r}: {error.message[:300]}")
    return arguments


# --- the HTTP request ----------------------------------------------------------------------


def _text_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def build_request(operation: Operation, arguments: dict) -> dict:
    """Keyword arguments for outbound.request, without credentials."""
    action = operation.action
    path, params, headers = operation.path, [], {}
    for param in operation.parameters:
        name, value = param["name"], arguments.get(param["name"])
        if value is None:
            continue
        if param["in"] == "path":
            # Quoted whole: a value can never add path segments, a query or another host.
            path = path.replace("{" + name + "}", quote(_text_value(value), safe=""))
        elif param["in"] == "query":
            values = value if isinstance(value, list) else [value]
            params.extend((name, _text_value(v)) for v in values)
        elif param["in"] == "header":
            text = _text_value(value)
            if "\r" in text or "\n" in text:
                raise InvalidArguments(
                    f"argument {name!r}: a header value cannot contain a line break"
                )
            if not _HEADER_VALUE.fullmatch(text):
                raise InvalidArguments(
                    f"argument {name!r}: a header value cannot start with a space or hold "
                    "control characters or characters beyond Latin-1"
                )
            headers[name] = text
    url = action.server_url + path
    if (urlsplit(url).hostname or "").lower() != action.domain:
        raise ActionMisconfigured(f"{operation.operation_id} does not lead to {action.domain}")
    request = {"url": url, "params": params, "headers": headers}
    body = arguments.get(BODY_ARGUMENT)
    if body is not None:
        if "form-urlencoded" in operation.request_body_content_type:
            if not isinstance(body, dict):
                raise InvalidArguments("argument 'body' must be an object for a form body")
            request["data"] = {k: _text_value(v) for k, v in body.items()}
        else:
            request["json"] = body
    return request


def add_credentials(action: Action, request: dict, *, user) -> dict:
    """Put the action's credentials on the request; returns the names of headers to guard."""
    try:
        if action.auth_type == Action.AuthType.API_KEY:
            key = reveal(action.api_key, what="API key")
            kind = action.api_key_auth_type
            if kind == Action.ApiKeyAuthType.CUSTOM:
                request["headers"][action.custom_header_name] = key
                return {"sensitive_headers": (action.custom_header_name,)}
            scheme = "Basic" if kind == Action.ApiKeyAuthType.BASIC else "Bearer"
            request["headers"]["Authorization"] = f"{scheme} {key}"
        elif action.auth_type == Action.AuthType.OAUTH:
            from actions import oauth  # the OAuth client needs the executor's errors

            request["headers"]["Authorization"] = oauth.authorization_header(action, user=user)
    except SecretUnreadable as exc:
        raise ActionMisconfigured(str(exc)) from None
    return {}


# --- running -------------------------------------------------------------------------------


def _selected_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in headers.items()
        if name in KEPT_HEADERS or name.startswith(KEPT_HEADER_PREFIXES)
    }


def _body(response: outbound.Response) -> Any:
    content_type = response.headers.get("content-type", "")
    if not response.truncated and ("json" in content_type or response.text[:1] in ("{", "[")):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _check_confirmation(operation: Operation, user, *, confirmed: bool, always_allow: bool):
    if not operation.is_consequential:
        return
    if confirmed:
        if always_allow and not operation.consequential_explicit:
            AlwaysAllow.objects.get_or_create(user=user, operation=operation)
        return
    if AlwaysAllow.objects.filter(user=user, operation=operation).exists():
        return
    raise ConfirmationRequired(
        f"{operation.operation_id} changes something at {operation.action.domain}; "
        "ask the user, then repeat with confirmed: true",
        operation=operation.operation_id,
        always_allow_offered=not operation.consequential_explicit,
    )


def _send(method: str, request: dict, guard: dict) -> outbound.Response:
    try:
        return outbound.request(method, **request, **guard)
    except outbound.AddressRefused as exc:
        raise AddressRefused(str(exc)) from None
    except outbound.UpstreamTimeout as exc:
        raise UpstreamTimedOut(str(exc)) from None
    except outbound.RequestTooLarge as exc:
        raise InvalidArguments(str(exc)) from None
    except outbound.OutboundError as exc:
        raise UpstreamFailed(str(exc)) from None


def prepare(operation: Operation, arguments: dict, *, user) -> tuple[dict, dict]:
    """The request with credentials, and the headers to guard; SignInRequired comes from here,
    before any confirmation question, so a user is never asked twice."""
    request = build_request(operation, arguments)
    return request, add_credentials(operation.action, request, user=user)


def send(operation: Operation, request: dict, guard: dict, *, user) -> Result:
    """Send a prepared call and turn transport failures into InvocationErrors.
    An OAuth action answered 401 refreshes the user's token once and retries once."""
    action = operation.action
    response = _send(operation.method, request, guard)
    if response.status == 401 and action.auth_type == Action.AuthType.OAUTH:
        from actions import oauth

        used = request["headers"]["Authorization"]
        request["headers"]["Authorization"] = oauth.refresh_after_401(
            action, user=user, used_header=used
        )
        response = _send(operation.method, request, guard)
    return Result(
        status=response.status,
        headers=_selected_headers(response.headers),
        body=_body(response),
        truncated=response.truncated,
        duration_ms=response.elapsed_ms,
    )


def invoke(
    *,
    operation: Operation,
    arguments: Any,
    user,
    client: str = "browser",
    confirmed: bool = False,
    always_allow: bool = False,
) -> Result:
    """Run `operation` for `user`; raises InvocationError. Every run is recorded."""
    record = CallRecord(
        user=user,
        gpt_id=operation.action.gpt_id,
        operation=operation,
        operation_name=operation.operation_id,
        client=client[:200],
    )
    try:
        arguments = check_arguments(operation, arguments)
        request, guard = prepare(operation, arguments, user=user)
        _check_confirmation(operation, user, confirmed=confirmed, always_allow=always_allow)
        result = send(operation, request, guard, user=user)
        record.upstream_status, record.duration_ms = result.status, result.duration_ms
        if result.status >= 500:
            raise UpstreamFailed(
                f"{operation.action.domain} answered {result.status}",
                status=result.status,
                body=result.body,
                truncated=result.truncated,
            )
        record.outcome = CallRecord.Outcome.OK
        return result
    except InvocationError as exc:
        record.outcome = exc.outcome
        raise
    finally:
        if record.outcome:
            record.save()
