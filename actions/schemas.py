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

    action.operations.all().delete()
    Operation.objects.bulk_create(
        Operation(
            action=action,
            operation_id=op.operation_id,
            method=op.method,
            path=op.path,
            summary=op.summary[:500],
            description=op.description,
            parameters=op.parameters,
            request_body=op.request_body,
            request_body_required=op.request_body_required,
            is_consequential=op.is_consequential,
            consequential_explicit=op.consequential_explicit,
        )
        for op in parsed.operations
    )
    return action, notices
