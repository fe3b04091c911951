from django import forms
from django.core.exceptions import ValidationError

from actions.authentication import clean_authentication
from actions.models import GPT, Action

SECRET_SET_PLACEHOLDER = "•••••••• stored — leave blank to keep"


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

    def __init__(self, *args, action: Action, **kwargs):
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
        }
        super().__init__(*args, initial=initial, **kwargs)
        # A stored secret never goes back to the browser: the field only says one is set.
        for name, kind in (
            ("api_key", Action.AuthType.API_KEY),
            ("client_secret", Action.AuthType.OAUTH),
        ):
            if action.auth_type == kind and getattr(action, name):
                self.fields[name].widget.attrs["placeholder"] = SECRET_SET_PLACEHOLDER
                self.fields[name].help_text = "A value is stored. Leave blank to keep it."
        self.fields["authorization_url"].widget.attrs["placeholder"] = "https://"
        self.fields["token_url"].widget.attrs["placeholder"] = "https://"

    def clean(self):
        raw = {name: self.data.get(self.add_prefix(name), "") for name in self.fields}
        try:
            return clean_authentication(raw, action=self.action)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
            return self.cleaned_data
