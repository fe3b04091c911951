"""End-user pages: a GPT's operations with Run forms."""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from actions import executor, oauth, ratelimit
from actions.forms import OperationForm
from actions.models import GPT, Connection, Operation

ERROR_TITLES = {
    "upstream_error": "The call failed",
    "upstream_timeout": "No answer in time",
    "action_misconfigured": "This action cannot run",
}


@dataclass
class Card:
    """One operation on the GPT page, with what its last run (if any) produced."""

    operation: Operation
    form: OperationForm
    result: executor.Result | None = None
    error: executor.InvocationError | None = None
    declined: bool = False
    sign_in_href: str = ""
    response: dict | None = None
    needs_sign_in: bool = False  # an OAuth action the user has no live connection to

    @property
    def problems(self) -> list[str]:
        if self.form.is_bound and self.form.errors:
            return self.form.problems()
        if isinstance(self.error, executor.InvalidArguments):
            return [self.error.message]
        return []

    @property
    def error_title(self) -> str:
        return ERROR_TITLES.get(self.error.code, "") if self.error else ""


def _visible_gpt(request, gpt_id: str) -> GPT:
    """The owner may always open a GPT; others only when it is shared by link."""
    gpt = get_object_or_404(GPT, id=gpt_id)
    if not gpt.may_use(request.user):
        raise Http404("No GPT here.")
    return gpt


def _shown_response(
    *, status: int, body: Any, truncated: bool, duration_ms=None, headers=None
) -> dict:
    if isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, indent=2, ensure_ascii=False)
    return {
        "status": status,
        "status_class": f"status-{min(max(status // 100, 1), 5)}xx",
        "body_text": text,
        "truncated": truncated,
        "duration_ms": duration_ms,
        "headers": sorted((headers or {}).items()),
    }


def _render_page(request, gpt: GPT, ran: Card | None = None):
    connected = set(
        Connection.objects.filter(
            user=request.user, action__gpt=gpt, status=Connection.Status.ACTIVE
        ).values_list("action_id", flat=True)
    )
    groups = []
    for action in gpt.actions.prefetch_related("operations"):
        cards = [
            ran if ran and op.pk == ran.operation.pk else Card(op, OperationForm(op))
            for op in action.operations.all()
        ]
        for card in cards:
            card.needs_sign_in = (
                action.auth_type == action.AuthType.OAUTH and action.pk not in connected
            )
        groups.append({"action": action, "cards": cards})
    return render(request, "actions/gpt_page.html", {"gpt": gpt, "groups": groups})


RESUME_KEY = "actions_resume_run"


@login_required
def gpt_page(request, gpt_id):
    gpt = _visible_gpt(request, gpt_id)
    stashed = request.session.pop(RESUME_KEY, None)
    if stashed and request.GET.get("resume") == stashed["operation"]:
        # Back from "Sign in to [domain]": run what the user asked for, with what they typed.
        operation = _operation(gpt, stashed["operation"], str(stashed["action"]))
        card = Card(operation, OperationForm(operation, stashed["data"]))
        if card.form.is_valid():
            _run(request, card, "")
        return _render_page(request, gpt, card)
    return _render_page(request, gpt)


def _sign_in_and_resume(request, card: Card):
    """Keep the typed arguments, then send the user to sign in; they come back to run them."""
    data = {k: v for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken", "sign_in")}
    operation = card.operation
    request.session[RESUME_KEY] = {
        "operation": operation.operation_id,
        "action": operation.action_id,
        "data": data,
    }
    return redirect(_sign_in_link(operation, resume=True))


def _operation(gpt: GPT, operation_id: str, action_id: str) -> Operation:
    operations = Operation.objects.select_related("action").filter(
        action__gpt=gpt, operation_id=operation_id
    )
    if action_id.isdigit():  # two actions of a GPT may use the same operationId
        operations = operations.filter(action_id=int(action_id))
    operation = operations.order_by("action__created", "action_id").first()
    if operation is None:
        raise Http404("No such operation.")
    return operation


def _sign_in_link(operation: Operation, *, resume: bool) -> str:
    """The sign-in page of the operation's action, coming back to its card on the GPT page
    (and running it again with what the user typed, when `resume`)."""
    back = reverse("gpt-page", args=[operation.action.gpt_id])
    if resume:
        back += f"?resume={operation.operation_id}"
    query = urlencode({"next": f"{back}#op-{operation.operation_id}"})
    return f"{oauth.sign_in_url(operation.action)}?{query}"


def _run(request, card: Card, choice: str) -> None:
    """Invoke the card's operation with its form's arguments and keep what is to be shown."""
    try:
        card.result = executor.invoke(
            operation=card.operation,
            arguments=card.form.arguments(),
            user=request.user,
            client="browser",
            confirmed=choice in ("allow", "always"),
            always_allow=choice == "always",
        )
    except executor.InvocationError as exc:
        card.error = exc
        if "status" in exc.extra:  # the upstream answered, with an error
            card.response = _shown_response(
                status=exc.extra["status"],
                body=exc.extra.get("body", ""),
                truncated=bool(exc.extra.get("truncated")),
            )
        elif isinstance(exc, executor.SignInRequired):
            card.sign_in_href = _sign_in_link(card.operation, resume=False)
    else:
        r = card.result
        card.response = _shown_response(
            status=r.status,
            body=r.body,
            truncated=r.truncated,
            duration_ms=r.duration_ms,
            headers=r.headers,
        )


@login_required
def run_operation(request, gpt_id, operation_id):
    gpt = _visible_gpt(request, gpt_id)
    if request.method != "POST":  # a reload or a shared link: the page itself, not an error
        return redirect(f"{reverse('gpt-page', args=[gpt.id])}#op-{operation_id}")
    operation = _operation(gpt, operation_id, request.POST.get("action", ""))
    card = Card(operation, OperationForm(operation, request.POST))
    choice = request.POST.get("confirm", "")  # allow, always or decline: the answer to a question
    if "sign_in" in request.POST:
        return _sign_in_and_resume(request, card)
    if choice != "decline":
        try:
            ratelimit.hit("invoke", user_id=request.user.pk, what="runs")
        except ratelimit.RateLimited as exc:
            return rate_limited(request, exc, gpt_id=gpt.id)
    if choice == "decline":
        card.declined = True
    elif card.form.is_valid():
        _run(request, card, choice)
    return _render_page(request, gpt, card)


def rate_limited(request, exc: ratelimit.RateLimited, *, gpt_id: str):
    """A readable page for a browser that went over a rate limit."""
    context = {"message": str(exc), "back": reverse("gpt-page", args=[gpt_id])}
    response = render(request, "actions/rate_limited.html", context, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response
