"""The agent API: a GPT's operations as tools, and invoking them for an end user.

A caller is the browser session (CSRF-checked on POST) or an agent client sending
`Authorization: Bearer <token>` from this app's own OAuth 2.0 server with scope `actions`;
the token's user is the end user. Every answer, errors included, is JSON.
"""

import json

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.www_authenticate import build_bearer_challenge, challenge_status

from actions import executor, ratelimit, strictjson
from actions.models import GPT, Operation

SCOPE = "actions"
MAX_BODY_BYTES = 1_000_000
INVOKE_FIELDS = ("operation", "arguments", "confirmed", "always_allow")
OPERATION_ORDER = ("action__created", "action_id", "id")  # actions in order, then schema order


class ApiError(Exception):
    """A refusal, answered as `{"error": code, "detail": detail, **extra}`."""

    def __init__(self, status: int, code: str, detail: str, *, headers=None, **extra):
        super().__init__(detail)
        self.status, self.headers = status, headers or {}
        self.payload = {"error": code, "detail": detail, **extra}

    def response(self) -> JsonResponse:
        return JsonResponse(self.payload, status=self.status, headers=self.headers)


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason  # the reason, for a JSON answer instead of Django's HTML page


# --- who is calling ------------------------------------------------------------------------


def agent_user(request) -> tuple:
    """(end user, client name) of an API request, or ApiError (401/403)."""
    scheme = request.headers.get("Authorization", "").split(None, 1)[:1]
    if scheme and scheme[0].lower() == "bearer":
        return _token_user(request)
    if request.user.is_authenticated:
        check = _CsrfCheck(lambda request: None)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason:
            raise ApiError(
                403,
                "csrf_failed",
                f"CSRF verification failed: {reason.rstrip('.')}. A signed-in browser sends the "
                "csrftoken cookie's value in X-CSRFToken; an agent client uses a Bearer token.",
            )
        return request.user, "browser"
    raise ApiError(
        401,
        "authentication_required",
        "Sign in, or send Authorization: Bearer <token> with scope 'actions'.",
        headers={"WWW-Authenticate": _challenge(request)},
    )


def _token_user(request) -> tuple:
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[SCOPE])
    error = None
    if not valid:
        error = getattr(oauth_request, "oauth2_error", None) or {"error": "invalid_token"}
    elif oauth_request.user is None:
        # A client_credentials token: an application acting for itself, not for an end user.
        error = {
            "error": "invalid_token",
            "error_description": "The access token has no end user (client credentials grant); "
            "get one through the authorization code flow, signed in as the end user.",
        }
    elif not oauth_request.user.is_active:
        error = {"error": "invalid_token", "error_description": "The token's user is inactive."}
    if error:
        detail = str(error.get("error_description") or "The access token is invalid.")
        raise ApiError(
            challenge_status(error),
            error["error"],
            detail,
            headers={"WWW-Authenticate": _challenge(request, error)},
        )
    application = oauth_request.client
    client = (application.name or application.client_id) if application else "oauth"
    return oauth_request.user, client


def _challenge(request, error=None) -> str:
    # No resource_metadata: DOT's document describes /o/, not this API.
    return build_bearer_challenge(request, oauth2_error=error, resource_metadata_url=None)


# --- which GPT and operation ---------------------------------------------------------------


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "There is no GPT with this id, or it is not shared with you.")


def _storable(text: str) -> bool:
    """A NUL or a lone surrogate cannot even be sent to the database: no row has one."""
    return strictjson.first_problem(text, allow_nul=False) is None


def usable_gpt(gpt_id: str, *, user) -> GPT:
    gpt = GPT.objects.filter(pk=gpt_id).first() if _storable(gpt_id) else None
    if gpt is None or not gpt.may_use(user):
        raise _not_found()
    return gpt


def find_operation(gpt_id: str, name: str, *, user) -> Operation:
    """The GPT's operation called `name`, with its action and GPT, in one query when it exists."""
    found = []
    if _storable(gpt_id) and _storable(name):
        found = list(
            Operation.objects.select_related("action__gpt")
            .defer("action__schema_text")  # up to 1 MB, and a call never needs it
            .filter(action__gpt_id=gpt_id, operation_id=name)
            .order_by(*OPERATION_ORDER)[:1]
        )
    if not found:
        gpt = usable_gpt(gpt_id, user=user)
        names = Operation.objects.filter(action__gpt=gpt).order_by(*OPERATION_ORDER)
        raise ApiError(
            400,
            "unknown_operation",
            f"{gpt.name} has no operation {name[:200]!r}.",
            operations=list(names.values_list("operation_id", flat=True)),
        )
    if not found[0].action.gpt.may_use(user):
        raise _not_found()
    return found[0]


# --- the invoke request body ---------------------------------------------------------------


def check_body(request) -> None:
    """Refuse a body that is not JSON or too large before anything reads it (415/413)."""
    content_type = request.content_type or ""
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send a JSON body with Content-Type: application/json, not {content_type or 'none'}.",
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", f"The body is over {MAX_BODY_BYTES:,} bytes.")


def read_invocation(request) -> dict:
    """The checked fields of an invoke request's JSON body, or ApiError (400)."""
    if not request.body.strip():
        raise ApiError(400, "invalid_json", "The body is empty; send a JSON object.")
    try:
        data = json.loads(request.body, parse_constant=strictjson.no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise _invalid(f"The body must be a JSON object, not {_json_type(data)}.")
    unknown = [key for key in data if key not in INVOKE_FIELDS]
    if unknown:
        raise _invalid(f"Unknown field {unknown[0][:100]!r}; expected {', '.join(INVOKE_FIELDS)}.")
    if not isinstance(data.get("operation"), str) or not data["operation"]:
        raise _invalid("'operation' must be a string: the name of one of the GPT's tools.")
    arguments = data.get("arguments")
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):  # a model's tool call carries its arguments as JSON text
        raise _invalid("'arguments' must be a JSON object, not a string; parse it first.")
    if not isinstance(arguments, dict):
        raise _invalid(f"'arguments' must be a JSON object, not {_json_type(arguments)}.")
    for flag in ("confirmed", "always_allow"):
        if not isinstance(data.get(flag, False), bool):
            raise _invalid(f"'{flag}' must be true or false, not {_json_type(data[flag])}.")
    return {
        "operation": data["operation"],
        "arguments": arguments,
        "confirmed": data.get("confirmed", False),
        "always_allow": data.get("always_allow", False),
    }


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid_request", detail)


def _json_type(value) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


# --- views ---------------------------------------------------------------------------------


def _method_not_allowed(allowed: str) -> JsonResponse:
    return JsonResponse(
        {"error": "method_not_allowed", "detail": f"Use {allowed}."},
        status=405,
        headers={"Allow": allowed},
    )


@csrf_exempt  # answered as JSON; agent_user checks CSRF on session calls that change state
@never_cache
def tools(request, gpt_id):
    if request.method != "GET":
        return _method_not_allowed("GET")
    try:
        user, _client = agent_user(request)
        gpt = usable_gpt(gpt_id, user=user)
    except ApiError as exc:
        return exc.response()
    operations = Operation.objects.filter(action__gpt=gpt).order_by(*OPERATION_ORDER)
    return JsonResponse(
        {
            "gpt": {"id": gpt.id, "name": gpt.name},
            "tools": [executor.tool_definition(op) for op in operations],
        }
    )


@csrf_exempt  # Bearer calls carry no CSRF token; agent_user checks it for session calls
@never_cache
def invoke(request, gpt_id):
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        check_body(request)
        user, client = agent_user(request)
        call = read_invocation(request)
        operation = find_operation(gpt_id, call["operation"], user=user)
        ratelimit.hit("invoke", user_id=user.pk, what="calls")
    except ratelimit.RateLimited as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        return ApiError(429, "rate_limited", str(exc), headers=headers).response()
    except ApiError as exc:
        return exc.response()
    try:
        result = executor.invoke(
            operation=operation,
            arguments=call["arguments"],
            user=user,
            client=client,
            confirmed=call["confirmed"],
            always_allow=call["always_allow"],
        )
    except executor.InvocationError as exc:
        payload = exc.payload()
        if "sign_in_url" in payload:
            payload["sign_in_url"] = request.build_absolute_uri(payload["sign_in_url"])
        return JsonResponse(payload, status=exc.http_status)
    return JsonResponse(result.as_dict())
