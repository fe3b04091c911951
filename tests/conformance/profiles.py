"""What the conformance suite runs: one profile per provider behaviour, and one per preset.

A profile is a fake-provider Behaviour, plus how the builder sets the action up in the
Authentication dialog: plain fields (`settings`), a preset's Apply, or the issuer's Fetch.
Profiles marked `unsupported` are expected to fail; the README's provider table lists them.
"""

from dataclasses import dataclass, field

from tests.conformance.fake_provider import Behaviour


@dataclass(frozen=True)
class Profile:
    id: str
    behaviour: Behaviour
    settings: dict = field(default_factory=dict)  # dialog fields besides the usual ones
    preset: str = ""  # Apply this preset (its URLs then pointed at the fake provider)
    discover: bool = False  # Fetch the fake provider's metadata to fill the dialog
    unsupported: str = ""  # the provider behaviour this app cannot work with


AUDIENCE = "https://api.example.com"

BEHAVIOURS = [
    Profile("rfc6749-json-reply", Behaviour()),
    Profile("form-encoded-reply", Behaviour(reply_format="form", token_type="bearer")),
    Profile("token-type-lowercase", Behaviour(token_type="bearer")),
    Profile("token-type-uppercase", Behaviour(token_type="BEARER")),
    Profile("token-type-absent", Behaviour(token_type=None)),
    Profile("expires-in-absent", Behaviour(expiry="absent")),
    Profile("expires-in-string", Behaviour(expiry="string")),
    Profile("expires-at-epoch", Behaviour(expiry="expires_at")),
    Profile("expires-at-iso-8601", Behaviour(expiry="expires_at_iso")),
    Profile(
        "error-with-http-200",
        Behaviour(error_style="http_200", bad_code_error="bad_verification_code"),
    ),
    Profile("slack-ok-false", Behaviour(error_style="slack", bad_code_error="invalid_code")),
    Profile(
        "envelope-authed-user",
        Behaviour(envelope="authed_user", error_style="slack", bad_code_error="invalid_code"),
        settings={"token_response_path": "authed_user"},
    ),
    Profile("envelope-data", Behaviour(envelope="data"), settings={"token_response_path": "data"}),
    Profile("no-refresh-token-on-refresh", Behaviour(refresh="omit")),
    Profile("rotating-refresh-token", Behaviour(refresh="rotate")),
    Profile("no-refresh-token-at-all", Behaviour(refresh="never", expiry="absent")),
    Profile(
        "client-auth-basic-only",
        Behaviour(client_auth="basic"),
        settings={"token_exchange_method": "basic_auth_header"},
    ),
    Profile("client-auth-post-only", Behaviour(client_auth="post")),
    Profile("pkce-required", Behaviour(pkce="required")),
    Profile("pkce-rejected", Behaviour(pkce="rejected"), settings={"pkce_enabled": "off"}),
    Profile(
        "comma-scope-separator",
        Behaviour(scope_separator=","),
        settings={"scope_separator": "comma"},
    ),
    Profile(
        "extra-authorization-params",
        Behaviour(authorization_params={"audience": AUDIENCE, "prompt": "consent"}),
        settings={"extra_authorization_params": f"audience={AUDIENCE}\nprompt=consent"},
    ),
    Profile(
        "extra-token-params",
        Behaviour(token_params={"resource": AUDIENCE + "/"}),
        settings={"extra_token_params": f"resource={AUDIENCE}/"},
    ),
    Profile(
        "json-token-requests",
        Behaviour(request_format="json"),
        settings={"token_request_format": "json"},
    ),
    Profile(
        "discovery-rfc8414", Behaviour(discovery="rfc8414", client_auth="basic"), discover=True
    ),
    Profile(
        "discovery-openid",
        Behaviour(
            discovery="openid",
            client_auth="post",
            auth_methods=("client_secret_post",),
            pkce="rejected",
        ),
        discover=True,
    ),
    Profile("iss-parameter-rfc9207", Behaviour(discovery="rfc8414", send_iss=True), discover=True),
    Profile(
        "dpop-bound-tokens",
        Behaviour(token_type="DPoP"),
        unsupported="DPoP-bound access tokens (RFC 9449): every call needs a proof signed with "
        "a client key",
    ),
    Profile(
        "private-key-jwt-client-auth",
        Behaviour(client_auth="private_key_jwt"),
        unsupported="client authentication by private_key_jwt only (RFC 7523): no client secret",
    ),
]

# Each preset against a fake provider that behaves as that provider's documentation says.
PRESET_MIMICS = {
    "github": Behaviour(
        reply_format="form",
        token_type="bearer",
        expiry="absent",
        refresh="never",
        error_style="http_200",
        bad_code_error="bad_verification_code",
        client_auth="post",
        revocation=False,
    ),
    "google": Behaviour(
        lifetime=3599,
        refresh="omit",
        authorization_params={"access_type": "offline", "prompt": "consent"},
        client_auth="post",
    ),
    "microsoft": Behaviour(lifetime=3599, refresh="rotate", client_auth="post", revocation=False),
    "slack": Behaviour(
        envelope="authed_user",
        flat_refresh=True,
        error_style="slack",
        bad_code_error="invalid_code",
        scope_separator=",",
        scope_parameter="user_scope",
        refresh="rotate",
        lifetime=43200,
        client_auth="basic",
        revocation=False,
    ),
    "salesforce": Behaviour(expiry="absent", refresh="omit", client_auth="post"),
    "notion": Behaviour(
        token_type="bearer",
        expiry="absent",
        refresh="rotate",
        client_auth="basic",
        request_format="json",
        authorization_params={"owner": "user"},
        revocation=False,
    ),
    "dropbox": Behaviour(
        token_type="bearer",
        lifetime=14400,
        refresh="omit",
        authorization_params={"token_access_type": "offline"},
        revocation=False,
    ),
    "atlassian": Behaviour(
        refresh="rotate",
        request_format="json",
        authorization_params={"audience": "api.atlassian.com", "prompt": "consent"},
        client_auth="post",
        revocation=False,
    ),
    "hubspot": Behaviour(token_type="bearer", lifetime=1800, client_auth="post", revocation=False),
    "zoom": Behaviour(
        token_type="bearer", lifetime=3599, refresh="rotate", client_auth="basic", revocation=False
    ),
}

PRESETS = [Profile(f"preset-{key}", mimic, preset=key) for key, mimic in PRESET_MIMICS.items()]

ALL = BEHAVIOURS + PRESETS
