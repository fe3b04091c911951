import secrets
import string

from django.conf import settings
from django.db import models
from django.urls import reverse

from actions.fields import SecretField

GPT_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


def new_gpt_id() -> str:
    """A public GPT id: `g-` and 10 random URL-safe characters (~60 bits)."""
    return "g-" + "".join(secrets.choice(GPT_ID_ALPHABET) for _ in range(10))


class GPT(models.Model):
    class Visibility(models.TextChoices):
        ONLY_ME = "only_me", "Only me"
        LINK = "link", "Anyone with the link"

    id = models.CharField(primary_key=True, max_length=12, default=new_gpt_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gpts"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    privacy_policy_url = models.URLField(blank=True, max_length=500)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.ONLY_ME
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated"]
        verbose_name = "GPT"
        verbose_name_plural = "GPTs"

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    def get_absolute_url(self) -> str:
        return reverse("editor:gpt-edit", args=[self.id])

    def may_use(self, user) -> bool:
        """Who may run this GPT's actions: the owner, and anyone once it is shared by link."""
        return self.owner_id == user.pk or self.visibility == self.Visibility.LINK

    @property
    def callback_url(self) -> str:
        """Where OAuth providers send users back: registered by the builder at the provider."""
        return f"{settings.SITE_URL}/aip/{self.id}/oauth/callback"


class Action(models.Model):
    class AuthType(models.TextChoices):
        NONE = "none", "None"
        API_KEY = "api_key", "API Key"
        OAUTH = "oauth", "OAuth"

    class ApiKeyAuthType(models.TextChoices):
        BASIC = "basic", "Basic"
        BEARER = "bearer", "Bearer"
        CUSTOM = "custom", "Custom"

    class TokenExchangeMethod(models.TextChoices):
        DEFAULT_POST = "default_post", "Default (POST request)"
        BASIC_AUTH_HEADER = "basic_auth_header", "Basic authorization header"

    class ScopeSeparator(models.TextChoices):
        SPACE = "space", "Space (RFC 6749)"
        COMMA = "comma", "Comma"

    class TokenRequestFormat(models.TextChoices):
        FORM = "form", "Form-encoded (RFC 6749)"
        JSON = "json", "JSON"

    class ScopeParameter(models.TextChoices):
        # Labels avoid the word "scope": the dialog's "Scope" label must stay unique.
        SCOPE = "scope", "Standard"
        USER_SCOPE = "user_scope", "Slack user tokens"

    gpt = models.ForeignKey(GPT, on_delete=models.CASCADE, related_name="actions")
    schema_text = models.TextField()
    title = models.CharField(max_length=200, blank=True)
    server_url = models.CharField(max_length=500)
    domain = models.CharField(max_length=253)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.NONE)
    # API key
    api_key = SecretField()
    api_key_auth_type = models.CharField(
        max_length=10, choices=ApiKeyAuthType.choices, default=ApiKeyAuthType.BEARER
    )
    custom_header_name = models.CharField(max_length=100, blank=True)
    # OAuth
    client_id = models.CharField(max_length=500, blank=True)
    client_secret = SecretField()
    authorization_url = models.CharField(max_length=2000, blank=True)
    token_url = models.CharField(max_length=2000, blank=True)
    scope = models.CharField(max_length=2000, blank=True)
    token_exchange_method = models.CharField(
        max_length=20, choices=TokenExchangeMethod.choices, default=TokenExchangeMethod.DEFAULT_POST
    )
    # Off only for a provider that rejects PKCE (e.g. a Salesforce app without it).
    pkce_enabled = models.BooleanField(default=True)
    revocation_url = models.CharField(max_length=2000, blank=True)
    # Provider quirks (see actions/providers.py and the README's "Providers").
    scope_separator = models.CharField(
        max_length=10, choices=ScopeSeparator.choices, default=ScopeSeparator.SPACE
    )
    scope_parameter = models.CharField(
        max_length=20, choices=ScopeParameter.choices, default=ScopeParameter.SCOPE
    )
    # Token requests as a form (RFC 6749) or as JSON (Notion's and Atlassian's documentation).
    token_request_format = models.CharField(
        max_length=10, choices=TokenRequestFormat.choices, default=TokenRequestFormat.FORM
    )
    # `key=value` lines, added to the authorization URL / every token request.
    extra_authorization_params = models.TextField(blank=True)
    extra_token_params = models.TextField(blank=True)
    # Where the tokens sit in the token reply when not at the top ("authed_user", "data").
    token_response_path = models.CharField(max_length=100, blank=True)
    # RFC 8414 issuer; with require_iss, the callback's `iss` must equal it (RFC 9207).
    issuer = models.CharField(max_length=2000, blank=True)
    require_iss = models.BooleanField(default=False)
    # The provider preset applied, if any: its domains may serve the OAuth URLs.
    preset = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["gpt", "domain"], name="one_action_per_domain_per_gpt"),
            models.CheckConstraint(
                condition=models.Q(auth_type__in=["none", "api_key", "oauth"]),
                name="action_auth_type_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title or self.domain} on {self.gpt_id}"

    def auth_summary(self) -> str:
        if self.auth_type == self.AuthType.API_KEY:
            kind = self.get_api_key_auth_type_display()
            if self.api_key_auth_type == self.ApiKeyAuthType.CUSTOM:
                kind = f"Custom header {self.custom_header_name}"
            return f"API Key ({kind})"
        return self.get_auth_type_display()

    def clear_secrets_except(self, auth_type: str) -> None:
        """Forget the settings and secrets of every scheme other than `auth_type`."""
        if auth_type != self.AuthType.API_KEY:
            self.api_key = ""
            self.custom_header_name = ""
            self.api_key_auth_type = self.ApiKeyAuthType.BEARER
        if auth_type != self.AuthType.OAUTH:
            self.client_id = ""
            self.client_secret = ""
            self.authorization_url = ""
            self.token_url = ""
            self.scope = ""
            self.token_exchange_method = self.TokenExchangeMethod.DEFAULT_POST
            self.pkce_enabled = True
            self.revocation_url = ""
            self.scope_separator = self.ScopeSeparator.SPACE
            self.scope_parameter = self.ScopeParameter.SCOPE
            self.token_request_format = self.TokenRequestFormat.FORM
            self.extra_authorization_params = ""
            self.extra_token_params = ""
            self.token_response_path = ""
            self.issuer = ""
            self.require_iss = False
            self.preset = ""


class Operation(models.Model):
    """One operation of an action's schema, derived on every schema save."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="operations")
    operation_id = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    summary = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    parameters = models.JSONField(default=list, blank=True)
    request_body = models.JSONField(null=True, blank=True)
    request_body_required = models.BooleanField(default=False)
    request_body_content_type = models.CharField(max_length=100, blank=True)
    is_consequential = models.BooleanField(default=False)
    # The schema says x-openai-isConsequential: true explicitly: "Always allow" is not offered.
    consequential_explicit = models.BooleanField(default=False)

    class Meta:
        ordering = ["action_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "operation_id"], name="unique_operation_id_per_action"
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation_id} ({self.method} {self.path})"


class AlwaysAllow(models.Model):
    """An end user's "Always allow" for one consequential operation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="always_allows")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "operation"], name="always_allow_once")
        ]


class CallRecord(models.Model):
    """One run of an operation. Never a secret, a token or a body."""

    class Outcome(models.TextChoices):
        OK = "ok", "Succeeded"
        UPSTREAM_ERROR = "upstream_error", "Upstream error"
        UPSTREAM_TIMEOUT = "upstream_timeout", "Upstream timeout"
        REFUSED = "refused", "Refused address"
        INVALID_ARGUMENTS = "invalid_arguments", "Invalid arguments"
        SIGN_IN_REQUIRED = "sign_in_required", "Sign-in required"
        CONFIRMATION_REQUIRED = "confirmation_required", "Confirmation required"
        MISCONFIGURED = "misconfigured", "Action misconfigured"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    gpt = models.ForeignKey(GPT, on_delete=models.CASCADE, related_name="call_records")
    operation = models.ForeignKey(Operation, on_delete=models.SET_NULL, null=True, blank=True)
    operation_name = models.CharField(max_length=200)  # the operationId, kept if the op is removed
    client = models.CharField(max_length=200)  # "browser", or the OAuth application's name
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=30, choices=Outcome.choices)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.operation_name} by {self.user} → {self.outcome}"


class Connection(models.Model):
    """One end user's OAuth grant for one action."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_SIGN_IN = "needs_sign_in", "Needs sign-in"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections"
    )
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="connections")
    access_token = SecretField()
    refresh_token = SecretField()
    token_type = models.CharField(max_length=40, default="Bearer")
    expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=2000, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created = models.DateTimeField(auto_now_add=True)
    refreshed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "action"], name="one_connection_per_user_action"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.action.domain} ({self.status})"


class PendingSignIn(models.Model):
    """A sign-in on its way through the provider: single use, bound to user and action, 10 min."""

    state_hash = models.CharField(max_length=64, unique=True)  # sha256 of the state sent out
    code_verifier = SecretField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="pending_sign_ins")
    next_url = models.CharField(max_length=2000, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"sign-in of {self.user} to {self.action.domain}"
