"""Saving an action's schema: parse, check the GPT's domains, store action and operations."""

from django.conf import settings
from django.db import IntegrityError, transaction

from actions.models import GPT, Action, Operation
from actions.openapi import ParsedSchema, SchemaError, SchemaProblem, parse_schema


def parse(text: str) -> ParsedSchema:
    return parse_schema(text, max_bytes=settings.ACTIONS_MAX_SCHEMA_BYTES)


def _domain_taken(*, gpt: GPT, domain: str, action: Action | None) -> SchemaError:
    return SchemaError(
        [
            SchemaProblem(
                "servers[0].url",
                f"This GPT already has an action for {domain}; a GPT has one action per domain. "
                "Edit that action instead.",
            )
        ]
    )


@transaction.atomic
def save_action_schema(
    *, gpt: GPT, text: str, action: Action | None = None
) -> tuple[Action, list[str]]:
    """Create or update an action from schema text; returns the action and notices for the builder.

    Raises SchemaError (nothing saved) when the schema is invalid or its domain is taken.
    When the API's domain changes, stored credentials are dropped: they were given for the
    old domain and must never be sent to another one.
    """
    parsed = parse(text)
    clash = gpt.actions.filter(domain=parsed.domain)
    if action is not None:
        clash = clash.exclude(pk=action.pk)
    if clash.exists():
        raise _domain_taken(gpt=gpt, domain=parsed.domain, action=action)

    _check_lengths(parsed)
    _check_tool_names(gpt=gpt, parsed=parsed, action=action)
    notices = [str(w) for w in parsed.warnings]
    if action is None:
        action = Action(gpt=gpt)
    elif action.domain != parsed.domain and action.auth_type != Action.AuthType.NONE:
        notices.append(
            f"The API moved from {action.domain} to {parsed.domain}, so its authentication "
            "settings were removed. Set them again for the new domain."
        )
        action.clear_secrets_except(Action.AuthType.NONE)
        action.auth_type = Action.AuthType.NONE

    action.schema_text = text
    action.title = parsed.title[:200]
    action.server_url = parsed.server_url
    action.domain = parsed.domain
    try:
        with transaction.atomic():
            action.save()
    except IntegrityError:  # another request took the domain between our check and save
        raise _domain_taken(gpt=gpt, domain=parsed.domain, action=action) from None

    _sync_operations(action, parsed)
    return action, notices


def _sync_operations(action: Action, parsed: ParsedSchema) -> None:
    """Update operations in place by operationId, so "Always allow" choices and call records
    keep pointing at them; an operation that now insists on asking loses its approvals."""
    existing = {op.operation_id: op for op in action.operations.all()}
    for spec in parsed.operations:
        op = existing.pop(spec.operation_id, None) or Operation(
            action=action, operation_id=spec.operation_id
        )
        changed_method = op.pk is not None and op.method != spec.method
        op.method = spec.method
        op.path = spec.path
        op.summary = spec.summary[:500]
        op.description = spec.description
        op.parameters = spec.parameters
        op.request_body = spec.request_body
        op.request_body_required = spec.request_body_required
        op.request_body_content_type = spec.request_body_content_type
        op.is_consequential = spec.is_consequential
        op.consequential_explicit = spec.consequential_explicit
        op.save()
        if changed_method or spec.consequential_explicit or not spec.is_consequential:
            op.always_allows.all().delete()
    Operation.objects.filter(pk__in=[op.pk for op in existing.values()]).delete()


def _too_long(where: str, what: str, value: str, model, field: str) -> list[SchemaProblem]:
    limit = model._meta.get_field(field).max_length
    if len(value) <= limit:
        return []
    message = f"{what} is {len(value):,} characters long; the limit is {limit:,}."
    return [SchemaProblem(where, message)]


def _check_lengths(parsed: ParsedSchema) -> None:
    """What the database stores has lengths (PostgreSQL refuses more): say which part is long.
    Titles and summaries are only shown, so they are shortened instead."""
    url = "servers[0].url"
    problems = _too_long(url, "The server URL", parsed.server_url, Action, "server_url")
    problems += _too_long(url, "The host name", parsed.domain, Action, "domain")
    for spec in parsed.operations:
        where = "paths." + (spec.path if len(spec.path) <= 60 else spec.path[:60] + "…")
        problems += _too_long(where, "The path", spec.path, Operation, "path")
        problems += _too_long(
            f"{where}.{spec.method.lower()}.requestBody.content",
            "The media type",
            spec.request_body_content_type,
            Operation,
            "request_body_content_type",
        )
    if problems:
        raise SchemaError(list(dict.fromkeys(problems)))  # a path's operations share it


def _check_tool_names(*, gpt: GPT, parsed: ParsedSchema, action: Action | None) -> None:
    """operationIds are the GPT's tool names, so they are unique across all its actions."""
    specs = {op.operation_id: op for op in parsed.operations}
    taken = Operation.objects.filter(action__gpt=gpt, operation_id__in=specs).select_related(
        "action"
    )
    if action is not None:
        taken = taken.exclude(action=action)
    problems = [
        SchemaProblem(
            f"paths.{specs[op.operation_id].path}.{specs[op.operation_id].method.lower()}.operationId",
            f"{op.operation_id} is already an operation of the action for {op.action.domain}; "
            "operationIds are the GPT's tool names and must be unique across its actions.",
        )
        for op in taken
    ]
    if problems:
        raise SchemaError(problems)
