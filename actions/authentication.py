"""An action's authentication settings: validation and applying them.

The editor's Authentication dialog and the GPT file importer both go through here, so a
setting refused in one is refused in the other with the same words.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from actions.models import Action
from actions.validation import check_header_name, check_oauth_url

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
    ),
}
# A grant is tied to these: changing one signs every user of the action out.
GRANT_FIELDS = ("client_id", "authorization_url", "token_url", "scope")
SWITCHES = {"on": True, "true": True, "off": False, "false": False}
SECRET_FIELDS = ("api_key", "client_secret")


def _choice(data: dict, name: str, choices, label: str, default: str) -> str:
    value = (data.get(name) or default).strip()
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationError({name: f"{label} must be one of {allowed}, not {value!r}."})
    return value


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
        domain = action.domain

        def url_check(label):
            return lambda v: check_oauth_url(v, field=label, action_domain=domain)

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
        pkce = str(data.get("pkce_enabled", "on")).strip().lower() or "on"
        if pkce not in SWITCHES:
            errors["pkce_enabled"] = f"PKCE must be on or off, not {pkce!r}."
        else:
            cleaned["pkce_enabled"] = SWITCHES[pkce]
        try:
            cleaned["token_exchange_method"] = _choice(
                data,
                "token_exchange_method",
                Action.TokenExchangeMethod,
                "Token Exchange Method",
                "default_post",
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned


def grant_changes(action: Action, cleaned: dict) -> bool:
    """Whether saving `cleaned` invalidates the users' existing OAuth grants."""
    if action.auth_type != Action.AuthType.OAUTH:
        return False
    if cleaned["auth_type"] != Action.AuthType.OAUTH:
        return True
    return any(getattr(action, name) != cleaned.get(name, "") for name in GRANT_FIELDS)


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
