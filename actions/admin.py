"""Admin for every model. Secret fields are never rendered: only whether one is set."""

from django.contrib import admin
from django.db import models

from actions.models import (
    GPT,
    Action,
    AlwaysAllow,
    CallRecord,
    Connection,
    Operation,
    PendingSignIn,
)

SECRET_FIELDS = ("api_key", "client_secret")


class OperationInline(admin.TabularInline):
    model = Operation
    extra = 0
    can_delete = False
    fields = ("operation_id", "method", "path", "is_consequential")
    readonly_fields = fields
    show_change_link = True


class ActionInline(admin.TabularInline):
    model = Action
    extra = 0
    fields = ("domain", "auth_type", "server_url")
    readonly_fields = fields
    show_change_link = True


@admin.register(GPT)
class GPTAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "id", "owner", "visibility", "updated")
    list_filter = ("visibility",)
    search_fields = ("name", "id", "owner__username")
    readonly_fields = ("id", "created", "updated")
    inlines = [ActionInline]


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ("domain", "gpt", "auth_type", "updated")
    list_filter = ("auth_type",)
    search_fields = ("domain", "gpt__name", "gpt__id")
    exclude = SECRET_FIELDS
    readonly_fields = ("api_key_set", "client_secret_set", "created", "updated")
    inlines = [OperationInline]

    @admin.display(boolean=True, description="API key set")
    def api_key_set(self, obj: Action) -> bool:
        return bool(obj.api_key)

    @admin.display(boolean=True, description="Client secret set")
    def client_secret_set(self, obj: Action) -> bool:
        return bool(obj.client_secret)


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ("operation_id", "method", "path", "action", "is_consequential")
    list_filter = ("method", "is_consequential")
    search_fields = ("operation_id", "path")


@admin.register(CallRecord)
class CallRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created",
        "operation_name",
        "gpt",
        "user",
        "client",
        "upstream_status",
        "outcome",
        "duration_ms",
    )
    list_filter = ("outcome", "client")
    search_fields = ("operation_name", "gpt__id", "user__username")
    readonly_fields = [f.name for f in CallRecord._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AlwaysAllow)
class AlwaysAllowAdmin(admin.ModelAdmin):
    list_display = ("user", "operation", "created")
    search_fields = ("user__username", "operation__operation_id")


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Tokens are never shown or editable here; staff can see a grant and delete it."""

    list_display = ("user", "action", "status", "expires_at", "created", "refreshed")
    list_filter = ("status",)
    search_fields = ("user__username", "action__domain")
    exclude = ("access_token", "refresh_token")
    readonly_fields = (
        "user",
        "action",
        "token_type",
        "expires_at",
        "scope",
        "created",
        "refreshed",
    )

    def has_add_permission(self, request):
        return False


@admin.register(PendingSignIn)
class PendingSignInAdmin(admin.ModelAdmin):
    list_display = ("user", "action", "created")
    exclude = ("code_verifier", "state_hash")
    readonly_fields = ("user", "action", "next_url", "created")

    def has_add_permission(self, request):
        return False
