"""An action's authentication settings: validation and applying them.

The editor's Authentication dialog and the GPT file importer both go through here, so a
setting refused in one is refused in the other with the same words.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from actions import providers
from actions.models import Action
from actions.validation import (
    AUTHORIZATION_PROTOCOL_PARAMS,
    TOKEN_PROTOCOL_PARAMS,
    check_header_name,
    check_issuer,
    check_params,
    check_provider_url,
    check_token_path,
    parse_params,
)

AUTH_FIELDS = {
    Action.AuthType.NONE: (),
    Action.AuthType.API_KEY: ("api_key", "api_key_auth_type", "custom_header_name"),
    Action.AuthType.OAUTH: (
        "client_id",
        "client_secret",
        "authorization_url",
        "token_url",
        "scope",
        "token_exchange_method",
        "pkce_enabled",
        "revocation_url",
        "scope_separator",
        "scope_parameter",
        "token_request_format",
        "extra_authorization_params",
        "extra_token_params",
        "token_response_path",
        "issuer",
        "require_iss",
        "preset",
    ),
}
# A grant is tied to these: changing one signs every user of the action out.
GRANT_FIELDS = (
    "client_id",
    "authorization_url",
    "token_url",
    "scope",
    "scope_separator",
    "scope_parameter",
)
# Extra parameters that choose what the token is for (RFC 8707 resource, audience): like scope.
GRANT_PARAMS = ("audience", "resource")
# Provider options, added after the first release, and their defaults: a GPT file or a form
# without them keeps working (and an export leaves out the ones at their default).
OPTIONAL_DEFAULTS = {
    "scope_separator": Action.ScopeSeparator.SPACE,
    "scope_parameter": Action.ScopeParameter.SCOPE,
    "token_request_format": Action.TokenRequestFormat.FORM,
    "extra_authorization_params": "",
    "extra_token_params": "",
    "token_response_path": "",
    "issuer": "",
    "require_iss": False,
    "preset": "",
}
SWITCHES = {"on": True, "true": True, "off": False, "false": False}
SECRET_FIELDS = ("api_key", "client_secret")
# The dialog's names for the text fields, for messages that say which one is wrong.
LABELS = {
    "api_key": "API Key",
    "custom_header_name": "Custom Header Name",
    "client_id": "Client ID",
    "client_secret": "Client Secret",
    "authorization_url": "Authorization URL",
    "token_url": "Token URL",
    "scope": "Scope",
    "revocation_url": "Revocation URL",
    "extra_authorization_params": "Extra authorization parameters",
    "extra_token_params": "Extra token parameters",
    "token_response_path": "Token response path",
    "issuer": "Issuer",
    "preset": "Provider preset",
}
# Every field is one line but the `key=value` lines; a key or secret pasted with a line break
# would be saved and then break every request, so control characters are refused.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MULTILINE_FIELDS = ("extra_authorization_params", "extra_token_params")


def _choice(data: dict, name: str, choices, label: str, default: str) -> str:
    value = (data.get(name) or default).strip()
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationError({name: f"{label} must be one of {allowed}, not {value!r}."})
    return value


def _check_text(name: str, value: str) -> None:
    """What any text field must be: within the column's length, no control characters."""
    label, limit = LABELS[name], Action._meta.get_field(name).max_length
    if limit and len(value) > limit:
        raise ValidationError(f"{label} is {len(value):,} characters long; the limit is {limit:,}.")
    if name in MULTILINE_FIELDS:
        if _CONTROL_BUT_LINES.search(value):
            raise ValidationError(f"{label} cannot contain control characters.")
    elif _CONTROL.search(value):
        raise ValidationError(f"{label} cannot contain line breaks or control characters.")


def _keeps_secret(action: Action, auth_type: str, name: str) -> bool:
    """A blank secret field keeps the stored one, but only within the same scheme."""
    return action.pk is not None and action.auth_type == auth_type and bool(getattr(action, name))


def clean_authentication(data: dict, *, action: Action) -> dict:
    """Validated settings for `action` from raw strings; raises ValidationError per field."""
    auth_type = _choice(data, "auth_type", Action.AuthType, "Authentication Type", "none")
    cleaned: dict = {"auth_type": auth_type}
    errors: dict[str, str] = {}

    def take(name: str, check=None, *, required: str | None = None):
        value = (data.get(name) or "").strip()
        try:
            _check_text(name, value)
            if not value and required:
                if name in SECRET_FIELDS and _keeps_secret(action, auth_type, name):
                    cleaned[name] = ""  # blank: keep the stored one
                    return
                raise ValidationError(required)
            cleaned[name] = check(value) if (check and value) else value
        except ValidationError as exc:
            errors[name] = exc.messages[0]

    if auth_type == Action.AuthType.API_KEY:
        take("api_key", required="API Key is required.")
        try:
            cleaned["api_key_auth_type"] = _choice(
                data, "api_key_auth_type", Action.ApiKeyAuthType, "Auth Type", "bearer"
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if cleaned.get("api_key_auth_type") == Action.ApiKeyAuthType.CUSTOM:
            take(
                "custom_header_name",
                check_header_name,
                required="Custom Header Name is required for the Custom auth type.",
            )
        else:
            cleaned["custom_header_name"] = ""
    elif auth_type == Action.AuthType.OAUTH:
        _clean_oauth(data, action=action, take=take, cleaned=cleaned, errors=errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _switch(data: dict, name: str, label: str, default: str, cleaned: dict, errors: dict):
    value = str(data.get(name, default)).strip().lower() or default
    if value not in SWITCHES:
        errors[name] = f"{label} must be on or off, not {value!r}."
    else:
        cleaned[name] = SWITCHES[value]


def _clean_oauth(data: dict, *, action: Action, take, cleaned: dict, errors: dict) -> None:
    """The OAuth fields; URLs may also sit on the chosen preset's own domains."""
    take("preset", providers.check_preset_name)
    preset = providers.PRESETS.get(cleaned.get("preset", ""))
    domains = preset.domains if preset else ()

    def url_check(label):
        return lambda v: check_provider_url(
            v, field=label, action_domain=action.domain, provider_domains=domains
        )

    take("client_id", required="Client ID is required.")
    take("client_secret", required="Client Secret is required.")
    take(
        "authorization_url",
        url_check("Authorization URL"),
        required="Authorization URL is required.",
    )
    take("token_url", url_check("Token URL"), required="Token URL is required.")
    take("scope")
    take("revocation_url", url_check("Revocation URL"))
    _switch(data, "pkce_enabled", "PKCE", "on", cleaned, errors)
    _switch(data, "require_iss", "Issuer check", "off", cleaned, errors)
    choices = (
        (
            "token_exchange_method",
            Action.TokenExchangeMethod,
            "Token Exchange Method",
            "default_post",
        ),
        ("scope_separator", Action.ScopeSeparator, "Scope separator", "space"),
        ("scope_parameter", Action.ScopeParameter, "Scope parameter", "scope"),
        ("token_request_format", Action.TokenRequestFormat, "Token request body", "form"),
    )
    for name, options, label, default in choices:
        try:
            cleaned[name] = _choice(data, name, options, label, default)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    # The scope parameter in use is the Scope field's; Slack's bot `scope` may be extra.
    scope_param = cleaned.get("scope_parameter", "scope")
    reserved = (AUTHORIZATION_PROTOCOL_PARAMS - {"scope"}) | {scope_param}
    for name, label, protocol in (
        ("extra_authorization_params", "Extra authorization parameters", reserved),
        ("extra_token_params", "Extra token parameters", TOKEN_PROTOCOL_PARAMS),
    ):
        take(
            name,
            lambda v, label=label, protocol=protocol: check_params(
                v, field=label, reserved=protocol
            ),
        )
    take("token_response_path", check_token_path)
    take("issuer", check_issuer)
    if cleaned.get("require_iss") and not cleaned.get("issuer") and "issuer" not in errors:
        errors["issuer"] = "Issuer is required when the issuer check (RFC 9207) is on."


def _grant_params(authorization_params: str, token_params: str) -> dict:
    pairs = parse_params(authorization_params) + parse_params(token_params)
    return {key: value for key, value in pairs if key.lower() in GRANT_PARAMS}


def grant_changes(action: Action, cleaned: dict) -> bool:
    """Whether saving `cleaned` invalidates the users' existing OAuth grants."""
    if action.auth_type != Action.AuthType.OAUTH:
        return False
    if cleaned["auth_type"] != Action.AuthType.OAUTH:
        return True
    if any(
        getattr(action, name) != cleaned.get(name, OPTIONAL_DEFAULTS.get(name, ""))
        for name in GRANT_FIELDS
    ):
        return True
    before = _grant_params(action.extra_authorization_params, action.extra_token_params)
    after = _grant_params(
        cleaned.get("extra_authorization_params", ""), cleaned.get("extra_token_params", "")
    )
    return before != after


@transaction.atomic
def save_authentication(action: Action, cleaned: dict) -> int:
    """Apply and save; returns how many users were signed out because their grant changed."""
    signed_out = 0
    if action.pk and grant_changes(action, cleaned):
        signed_out, _ = action.connections.all().delete()
    apply_authentication(action, cleaned)
    action.save()
    return signed_out


def apply_authentication(action: Action, cleaned: dict) -> None:
    """Set validated settings on `action` (not saved). Switching scheme forgets the old secrets."""
    auth_type = cleaned["auth_type"]
    action.clear_secrets_except(auth_type)
    action.auth_type = auth_type
    for name in AUTH_FIELDS[auth_type]:
        value = cleaned.get(name, "")
        if name in SECRET_FIELDS and not value:
            continue  # blank keeps the stored secret (clean_authentication allowed it)
        if name in cleaned:
            setattr(action, name, value)
