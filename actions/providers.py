"""What the Authentication dialog can fill in for a builder: provider presets and discovery.

Presets are data (provider_presets.yaml), read and checked once here. Discovery reads an
authorization server's published metadata, RFC 8414 `/.well-known/oauth-authorization-server`
or OpenID Connect `/.well-known/openid-configuration`, through actions.outbound. Both return
values for the dialog's fields; nothing is saved until the builder saves the dialog, where
the usual checks apply again.
"""

import http.client
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from django.core.exceptions import ImproperlyConfigured, ValidationError

from actions import outbound
from actions.models import Action
from actions.validation import check_issuer, check_provider_url, format_params

PRESETS_FILE = Path(__file__).with_name("provider_presets.yaml")
MAX_METADATA_CHARS = 100_000


# --- presets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    docs: str
    authorization_url: str
    token_url: str
    domains: tuple[str, ...]
    api_url: str
    revocation_url: str = ""
    scope_separator: str = Action.ScopeSeparator.SPACE
    scope_parameter: str = Action.ScopeParameter.SCOPE
    token_request_format: str = Action.TokenRequestFormat.FORM
    extra_authorization_params: dict = field(default_factory=dict)
    extra_token_params: dict = field(default_factory=dict)
    token_response_path: str = ""
    pkce_enabled: bool = True
    token_exchange_method: str = Action.TokenExchangeMethod.DEFAULT_POST
    scope_example: str = ""
    notes: str = ""

    def form_values(self) -> dict[str, str]:
        """The dialog's fields this preset fills; Client ID, Client Secret and Scope are not."""
        return {
            "preset": self.key,
            "authorization_url": self.authorization_url,
            "token_url": self.token_url,
            "revocation_url": self.revocation_url,
            "scope_separator": self.scope_separator,
            "scope_parameter": self.scope_parameter,
            "token_request_format": self.token_request_format,
            "extra_authorization_params": format_params(self.extra_authorization_params.items()),
            "extra_token_params": format_params(self.extra_token_params.items()),
            "token_response_path": self.token_response_path,
            "pkce_enabled": "on" if self.pkce_enabled else "off",
            "token_exchange_method": self.token_exchange_method,
            "issuer": "",
            "require_iss": "off",
        }


def _load_presets(path: Path = PRESETS_FILE) -> dict[str, Preset]:
    data = yaml.safe_load(path.read_text())
    presets = {}
    for key, entry in data.items():
        try:
            presets[key] = Preset(key=key, **{**entry, "domains": tuple(entry["domains"])})
        except (TypeError, KeyError) as exc:
            raise ImproperlyConfigured(f"{path.name}: preset {key!r} is malformed: {exc}") from None
    return presets


# Read at import: a malformed file stops the app at start, naming the preset.
PRESETS: dict[str, Preset] = _load_presets()


def preset_choices() -> list[tuple[str, str]]:
    return [("", "None (enter the URLs yourself)")] + [(k, p.name) for k, p in PRESETS.items()]


def check_preset_name(key: str) -> str:
    if PRESETS.get(key) is None:
        known = ", ".join(PRESETS)
        raise ValidationError(f"Provider preset {key!r} is unknown (known: {known}).")
    return key


# --- discovery (RFC 8414, OpenID Connect Discovery 1.0) --------------------------------------


class DiscoveryError(Exception):
    """Discovery failed; str() names the problem and is safe to show."""


@dataclass
class Discovered:
    document_url: str
    values: dict[str, str]  # the dialog's fields to fill
    notes: list[str]


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be: RFC 8414 §3.1 inserts the well-known segment before
    the issuer's path; OpenID Connect Discovery §4 appends it after the path."""
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]


def _fetch_document(url: str) -> dict | str:
    """The JSON object at `url`, or a string saying why not (tried: the next URL may work)."""
    try:
        response = outbound.request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            max_response_chars=MAX_METADATA_CHARS,
        )
    except outbound.OutboundError as exc:
        raise DiscoveryError(f"Could not fetch {url}: {exc}") from None
    if response.status in outbound.REDIRECT_STATUSES:
        return f"{url} redirects to another host (not followed)"
    if not 200 <= response.status < 300:
        phrase = http.client.responses.get(response.status, "")
        return f"{url} answered {response.status} {phrase}".rstrip()
    if response.truncated:
        return f"{url} is larger than {MAX_METADATA_CHARS:,} characters"
    try:
        document = response.json()
    except ValueError:
        return f"{url} is not JSON"
    if not isinstance(document, dict):
        return f"{url} is JSON but not an object"
    return document


def fetch_metadata(issuer: str) -> tuple[str, dict]:
    """The first metadata document found for `issuer`, and its URL; DiscoveryError otherwise."""
    problems = []
    for url in metadata_urls(issuer):
        document = _fetch_document(url)
        if isinstance(document, dict):
            return url, document
        problems.append(document)
    raise DiscoveryError("No authorization server metadata found: " + "; ".join(problems) + ".")


def _exchange_method(document: dict, notes: list[str]) -> str:
    """client_secret_basic when offered: RFC 6749 §2.3.1 makes every server support HTTP Basic
    and advises against secrets in the body. Absent, RFC 8414 §2 says the default is basic."""
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    methods = [str(m) for m in methods] if isinstance(methods, list) else ["client_secret_basic"]
    if "client_secret_basic" in methods:
        notes.append("Token Exchange Method: Basic authorization header (client_secret_basic)")
        return Action.TokenExchangeMethod.BASIC_AUTH_HEADER
    if "client_secret_post" in methods:
        notes.append("Token Exchange Method: Default (POST request) (client_secret_post)")
        return Action.TokenExchangeMethod.DEFAULT_POST
    notes.append(
        f"the server lists only {', '.join(methods)[:200]} for client authentication, which "
        "this app does not support; Basic authorization header is filled in"
    )
    return Action.TokenExchangeMethod.BASIC_AUTH_HEADER


def _pkce(document: dict, notes: list[str]) -> str:
    methods = document.get("code_challenge_methods_supported")
    if methods is None:
        notes.append("PKCE: not advertised, left on")
        return "on"
    if isinstance(methods, list) and "S256" in methods:
        notes.append("PKCE S256: supported")
        return "on"
    notes.append("PKCE: S256 not supported, turned off")
    return "off"


def discover(issuer: str, *, action: Action, preset: str = "") -> Discovered:
    """Fetch `issuer`'s metadata and map it to the dialog's fields. The issuer in the document
    must match exactly (RFC 8414 §3.3), and the endpoints pass the usual URL checks."""
    issuer = (issuer or "").strip()
    if not issuer:
        raise DiscoveryError("Enter the Issuer URL first, e.g. https://login.example.com.")
    try:
        check_issuer(issuer)
    except ValidationError as exc:
        raise DiscoveryError(exc.messages[0]) from None
    url, document = fetch_metadata(issuer)
    if document.get("issuer") != issuer:
        named = str(document.get("issuer"))[:200]
        raise DiscoveryError(
            f"The document at {url} names the issuer {named!r}, not {issuer!r}: they must match "
            "exactly (RFC 8414 §3.3), so it was not used."
        )
    missing = [
        key
        for key in ("authorization_endpoint", "token_endpoint")
        if not isinstance(document.get(key), str) or not document[key]
    ]
    if missing:
        raise DiscoveryError(f"The document at {url} has no {' and no '.join(missing)}.")
    known = PRESETS.get(preset)
    values, filled = {"issuer": issuer}, []
    for name, key, label in (
        ("authorization_url", "authorization_endpoint", "Authorization URL"),
        ("token_url", "token_endpoint", "Token URL"),
        ("revocation_url", "revocation_endpoint", "Revocation URL"),
    ):
        if not isinstance(document.get(key), str) or not document[key]:
            continue
        try:
            values[name] = check_provider_url(
                document[key],
                field=label,
                action_domain=action.domain,
                provider_domains=known.domains if known else (),
            )
        except ValidationError as exc:
            raise DiscoveryError(f"The server's {key}: {exc.messages[0]}") from None
        filled.append(label)
    notes = [f"filled {', '.join(filled)}"]
    values["pkce_enabled"] = _pkce(document, notes)
    values["token_exchange_method"] = _exchange_method(document, notes)
    iss = document.get("authorization_response_iss_parameter_supported") is True
    values["require_iss"] = "on" if iss else "off"
    if iss:
        notes.append("sign-in replies must carry this issuer (RFC 9207)")
    return Discovered(document_url=url, values=values, notes=notes)
