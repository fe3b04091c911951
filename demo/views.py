"""A fake third-party API, bundled so that `make run` has an API to try actions against.

It stands for someone else's service: nothing here knows about GPTs or actions. The public
operations need no authentication; the vault ones need the demo API key in X-Demo-Key (see
demo/keys.py), which a builder sets up as API Key → Custom header in the editor.
"""

import hashlib
import itertools
import json
import secrets

from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.oauth2_backends import get_oauthlib_core

from demo.keys import demo_api_key
from demo.schemas import profile_schema, public_schema, vault_schema

KEY_HEADER = "X-Demo-Key"
MAX_CITY, MAX_DAYS, MAX_NOTE = 100, 7, 500
SUMMARIES = ["Sunny", "Partly cloudy", "Cloudy", "Light rain", "Showers", "Thunderstorms", "Fog"]
_note_ids = itertools.count(1)  # notes are echoed back, not kept: a demo needs no storage


@require_GET
def forecast(request):
    """A made-up forecast, the same for the same city every time."""
    city = request.GET.get("city", "").strip()
    if not city:
        return _error("city is required")
    if len(city) > MAX_CITY:
        return _error(f"city must be at most {MAX_CITY} characters")
    try:
        count = int(request.GET.get("days", "3"))
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_DAYS:
        return _error(f"days must be a whole number from 1 to {MAX_DAYS}")
    days = []
    for day in range(1, count + 1):
        seed = hashlib.sha256(f"{city.lower()}:{day}".encode()).digest()
        high = 8 + seed[1] % 25
        days.append(
            {
                "day": day,
                "summary": SUMMARIES[seed[0] % len(SUMMARIES)],
                "high_c": high,
                "low_c": high - 4 - seed[2] % 7,
            }
        )
    return JsonResponse({"city": city, "days": days})


@csrf_exempt  # any method: the point is to show what arrived
def echo(request):
    """The method, the query and the names (never the values) of the headers received."""
    query = {name: v[0] if len(v) == 1 else v for name, v in request.GET.lists()}
    return JsonResponse(
        {
            "method": request.method,
            "query": query,
            "header_names": sorted(request.headers.keys()),
            "authorization_present": "Authorization" in request.headers,
        }
    )


@require_GET
def vault_message(request):
    if not _has_key(request):
        return _wrong_key()
    return JsonResponse({"message": "The vault is open.", "key_header_seen": True})


@csrf_exempt  # called server to server, with the key instead of a session
@require_POST
def vault_notes(request):
    if not _has_key(request):
        return _wrong_key()
    try:
        body = json.loads(request.body)
    except ValueError:
        return _error("the body must be JSON")
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return _error("text is required")
    if len(text) > MAX_NOTE:
        return _error(f"text must be at most {MAX_NOTE} characters")
    note = {"id": next(_note_ids), "text": text, "created": timezone.now().isoformat()}
    return JsonResponse(note, status=201)


@require_GET
def public_yaml(request):
    return _yaml(public_schema(_api_base(request)))


@require_GET
def vault_yaml(request):
    return _yaml(vault_schema(_api_base(request)))


def _has_key(request) -> bool:
    given = request.headers.get(KEY_HEADER, "")
    return secrets.compare_digest(given.encode(), demo_api_key().encode())


def _wrong_key() -> JsonResponse:
    return JsonResponse({"error": f"missing or wrong {KEY_HEADER}"}, status=401)


def _error(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


def _api_base(request) -> str:
    """This API's own base URL, as the caller reached it (e.g. http://127.0.0.1:8000/demo/api)."""
    return request.build_absolute_uri(reverse("demo:public-schema")).rsplit("/", 1)[0]


def _yaml(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="application/yaml; charset=utf-8")


@require_GET
def me(request):
    """The OAuth-protected operation: needs a token from /o/ with scope `profile`."""
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=["profile"])
    if not valid:
        response = JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token", scope="profile"'
        return response
    token = oauth_request.access_token
    return JsonResponse(
        {
            "username": oauth_request.user.username,
            "scopes": sorted(token.scope.split()),
            "token_expires": token.expires.isoformat(),
        }
    )


@require_GET
def profile_yaml(request):
    return _yaml(profile_schema(_api_base(request)))
