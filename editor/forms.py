from django import forms
from django.core.exceptions import ValidationError

from actions import providers
from actions.authentication import SECRET_FIELDS, clean_authentication
from actions.models import GPT, Action

SECRET_SET_PLACEHOLDER = "•••••••• stored — leave blank to keep"
# The "Advanced" part: opened when one of these has an error or a value other than its default.
ADVANCED_DEFAULTS = {
    "pkce_enabled": "on",
    "revocation_url": "",
    "scope_separator": "space",
    "scope_parameter": "scope",
    "token_request_format": "form",
    "extra_authorization_params": "",
    "extra_token_params": "",
    "token_response_path": "",
    "require_iss": "off",
}


class GPTForm(forms.ModelForm):
    privacy_policy_url = forms.URLField(
        label="Privacy policy URL", required=False, max_length=500, assume_scheme="https"
    )

    class Meta:
        model = GPT
        fields = ["name", "description", "privacy_policy_url", "visibility"]
        labels = {"privacy_policy_url": "Privacy policy URL"}
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "visibility": forms.RadioSelect,
        }


class SchemaForm(forms.Form):
    schema_text = forms.CharField(
        label="Schema",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 18, "spellcheck": "false", "class": "code", "autocomplete": "off"}
        ),
        help_text="An OpenAPI 3.0 or 3.1 document, JSON or YAML, at most 1 MB.",
    )
    import_url = forms.URLField(
        label="Import from URL",
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/openapi.yaml"}),
    )


class AuthenticationForm(forms.Form):
    """The Authentication dialog. Every choice renders; only the chosen one is validated."""

    auth_type = forms.ChoiceField(
        label="Authentication Type", choices=Action.AuthType.choices, widget=forms.RadioSelect
    )
    api_key = forms.CharField(
        label="API Key", required=False, widget=forms.PasswordInput(render_value=False)
    )
    api_key_auth_type = forms.ChoiceField(
        label="Auth Type",
        choices=Action.ApiKeyAuthType.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    custom_header_name = forms.CharField(label="Custom Header Name", required=False, max_length=100)
    client_id = forms.CharField(label="Client ID", required=False, max_length=500)
    client_secret = forms.CharField(
        label="Client Secret", required=False, widget=forms.PasswordInput(render_value=False)
    )
    authorization_url = forms.CharField(label="Authorization URL", required=False, max_length=2000)
    token_url = forms.CharField(label="Token URL", required=False, max_length=2000)
    scope = forms.CharField(label="Scope", required=False, max_length=2000)
    token_exchange_method = forms.ChoiceField(
        label="Token Exchange Method",
        choices=Action.TokenExchangeMethod.choices,
        widget=forms.RadioSelect,
        required=False,
    )

    pkce_enabled = forms.ChoiceField(
        label="PKCE",
        choices=[("on", "On (S256)"), ("off", "Off — only for a provider that rejects PKCE")],
        widget=forms.RadioSelect,
        required=False,
    )
    revocation_url = forms.CharField(
        label="Revocation URL",
        required=False,
        max_length=2000,
        help_text="Optional (RFC 7009). Signing out revokes the user's tokens there.",
    )

    # Provider options, under "Advanced". The radio groups' legends label no input, so the
    # label "Scope" still names one field.
    scope_separator = forms.ChoiceField(
        label="Scope separator",
        choices=Action.ScopeSeparator.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    scope_parameter = forms.ChoiceField(
        label="Scope parameter",
        choices=Action.ScopeParameter.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    token_request_format = forms.ChoiceField(
        label="Token request body",
        choices=Action.TokenRequestFormat.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    extra_authorization_params = forms.CharField(
        label="Extra authorization parameters",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One key=value a line (or a query string), added to the Authorization URL, "
        "e.g. access_type=offline, prompt=consent, audience=…",
    )
    extra_token_params = forms.CharField(
        label="Extra token parameters",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="Sent with every token request (sign-in and refresh), e.g. resource=https://…",
    )
    token_response_path = forms.CharField(
        label="Token response path",
        required=False,
        max_length=100,
        help_text="Where the tokens sit in the token reply when not at its top level, e.g. "
        "authed_user (Slack) or data.",
    )
    require_iss = forms.ChoiceField(
        label="Issuer check (RFC 9207)",
        choices=[("off", "Off"), ("on", "On: sign-in replies must name the Issuer in iss")],
        widget=forms.RadioSelect,
        required=False,
    )
    # Filling the dialog: a preset (Apply) or the issuer's metadata (Fetch).
    preset = forms.ChoiceField(
        label="Provider preset",
        choices=providers.preset_choices,
        required=False,
        help_text="Apply fills the URLs and options from the provider's documentation; "
        "Client ID, Client Secret and Scope stay yours.",
    )
    issuer = forms.CharField(
        label="Issuer",
        required=False,
        max_length=2000,
        help_text="The authorization server's issuer URL: Fetch reads its published metadata "
        "(RFC 8414 or OpenID) and fills the fields below.",
    )

    def __init__(self, *args, action: Action, filled: dict | None = None, **kwargs):
        """`filled`: values to show instead of the stored ones (after Apply or Fetch)."""
        self.action = action
        initial = {
            "auth_type": action.auth_type,
            "api_key_auth_type": action.api_key_auth_type,
            "custom_header_name": action.custom_header_name,
            "client_id": action.client_id,
            "authorization_url": action.authorization_url,
            "token_url": action.token_url,
            "scope": action.scope,
            "token_exchange_method": action.token_exchange_method,
            "pkce_enabled": "on" if action.pkce_enabled else "off",
            "revocation_url": action.revocation_url,
            "scope_separator": action.scope_separator,
            "scope_parameter": action.scope_parameter,
            "token_request_format": action.token_request_format,
            "extra_authorization_params": action.extra_authorization_params,
            "extra_token_params": action.extra_token_params,
            "token_response_path": action.token_response_path,
            "require_iss": "on" if action.require_iss else "off",
            "preset": action.preset,
            "issuer": action.issuer,
        }
        if filled is not None:
            initial = {**initial, **filled}
        super().__init__(*args, initial=initial, **kwargs)
        # A stored secret never goes back to the browser: the field only says one is set.
        for name, kind in (
            ("api_key", Action.AuthType.API_KEY),
            ("client_secret", Action.AuthType.OAUTH),
        ):
            if action.auth_type == kind and getattr(action, name):
                self.fields[name].widget.attrs["placeholder"] = SECRET_SET_PLACEHOLDER
                self.fields[name].help_text = "A value is stored. Leave blank to keep it."
        for name in ("authorization_url", "token_url", "issuer"):
            self.fields[name].widget.attrs["placeholder"] = "https://"

    @classmethod
    def typed_values(cls, data) -> dict:
        """What the builder typed, secrets left out: the dialog re-shown after Apply or Fetch."""
        return {name: data.get(name, "") for name in cls.base_fields if name not in SECRET_FIELDS}

    def show_error(self, name: str, message: str) -> None:
        """An error on a form that is shown, not validated (after Apply or Fetch)."""
        if not hasattr(self, "cleaned_data"):
            self.cleaned_data = {}
        self.add_error(name, message)

    @property
    def chosen_preset(self):
        """The preset shown in the dialog (for its notes and documentation link), or None."""
        return providers.PRESETS.get(self["preset"].value() or "")

    @property
    def advanced_open(self) -> bool:
        for name, default in ADVANCED_DEFAULTS.items():
            value = self[name].value() if self.is_bound else self.initial.get(name)
            if self.errors.get(name) or (value or default) != default:
                return True
        return False

    def clean(self):
        raw = {name: self.data.get(self.add_prefix(name), "") for name in self.fields}
        try:
            return clean_authentication(raw, action=self.action)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
            return self.cleaned_data
