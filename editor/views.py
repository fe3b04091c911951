"""The builder's editor: GPTs, their actions, schemas and the Authentication dialog.

Every view finds objects through the signed-in user, so someone else's GPT is a 404.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from actions import oauth, outbound, providers
from actions.authentication import save_authentication
from actions.models import GPT, Action
from actions.openapi import SchemaError
from actions.schemas import save_action_schema
from editor.forms import AuthenticationForm, GPTForm, SchemaForm


def _own_gpt(request, gpt_id: str) -> GPT:
    return get_object_or_404(GPT, id=gpt_id, owner=request.user)


def _own_action(request, gpt_id: str, action_id: int) -> Action:
    return get_object_or_404(
        Action.objects.select_related("gpt"), id=action_id, gpt__id=gpt_id, gpt__owner=request.user
    )


@login_required
def gpt_list(request):
    gpts = request.user.gpts.prefetch_related("actions")
    return render(request, "editor/gpt_list.html", {"gpts": gpts})


@login_required
def gpt_create(request):
    form = GPTForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        gpt = form.save(commit=False)
        gpt.owner = request.user
        gpt.save()
        messages.success(request, f"Created {gpt.name}. Now add an action.")
        return redirect(gpt)
    return render(request, "editor/gpt_form.html", {"form": form})


@login_required
def gpt_edit(request, gpt_id):
    gpt = _own_gpt(request, gpt_id)
    form = GPTForm(request.POST or None, instance=gpt)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved.")
        return redirect(gpt)
    context = {
        "gpt": gpt,
        "form": form,
        "actions": gpt.actions.prefetch_related("operations"),
        "activity": list(gpt.call_records.select_related("user")[:50]),
    }
    return render(request, "editor/gpt_edit.html", context)


@require_POST
@login_required
def gpt_delete(request, gpt_id):
    gpt = _own_gpt(request, gpt_id)
    gpt.delete()
    messages.success(request, f"Deleted {gpt.name}.")
    return redirect("editor:gpt-list")


def _schema_step(request, gpt: GPT, action: Action | None):
    """Shared by create and edit: import from a URL fills the box; save validates and stores."""
    initial = {"schema_text": action.schema_text} if action else {}
    form = SchemaForm(request.POST or None, initial=initial)
    problems, saved = [], None
    if request.method == "POST" and form.is_valid():
        if "import" in request.POST:
            url = form.cleaned_data["import_url"]
            if not url:
                form.add_error("import_url", "Enter the URL of an OpenAPI document to import.")
            else:
                try:
                    text = outbound.fetch_text(url, max_chars=settings.ACTIONS_MAX_SCHEMA_BYTES)
                except outbound.OutboundError as exc:
                    form.add_error("import_url", f"Could not import: {exc}")
                else:
                    form = SchemaForm(initial={"schema_text": text, "import_url": url})
                    messages.info(request, "Imported. Review the schema, then save.")
        elif not form.cleaned_data["schema_text"].strip():
            form.add_error("schema_text", "Paste an OpenAPI schema, or import one from a URL.")
        else:
            try:
                saved, notices = save_action_schema(
                    gpt=gpt, text=form.cleaned_data["schema_text"], action=action
                )
            except SchemaError as exc:
                problems = exc.problems
            else:
                for notice in notices:
                    messages.warning(request, notice)
    return form, problems, saved


@login_required
def action_create(request, gpt_id):
    gpt = _own_gpt(request, gpt_id)
    form, problems, saved = _schema_step(request, gpt, None)
    if saved:
        messages.success(request, f"Added the action for {saved.domain}.")
        return redirect("editor:action-edit", gpt.id, saved.id)
    return render(
        request, "editor/action_edit.html", {"gpt": gpt, "form": form, "problems": problems}
    )


@login_required
def action_edit(request, gpt_id, action_id):
    action = _own_action(request, gpt_id, action_id)
    form, problems, saved = _schema_step(request, action.gpt, action)
    if saved:
        messages.success(request, "Schema saved.")
        return redirect("editor:action-edit", gpt_id, action_id)
    if problems:  # nothing was saved: show the stored action, not a half-updated copy
        action.refresh_from_db()
    context = {
        "gpt": action.gpt,
        "action": action,
        "operations": action.operations.all(),
        "form": form,
        "problems": problems,
    }
    return render(request, "editor/action_edit.html", context)


def _filled_auth_form(request, action: Action) -> AuthenticationForm:
    """Apply (a preset) or Fetch (discovery): the dialog shown again, filled in, not saved."""
    values = {**AuthenticationForm.typed_values(request.POST), "auth_type": Action.AuthType.OAUTH}
    error, filled_from = None, ""
    if "discover" in request.POST:
        try:
            found = providers.discover(values["issuer"], action=action, preset=values["preset"])
        except providers.DiscoveryError as exc:
            error = ("issuer", f"Could not discover: {exc}")
        else:
            values.update(found.values)
            filled_from = f"From {found.document_url}: {'; '.join(found.notes)}."
    elif preset := providers.PRESETS.get(values["preset"]):
        values.update(preset.form_values())
        filled_from = f"Filled in from the {preset.name} preset."
    else:
        error = ("preset", "Choose a provider preset to apply.")
    form = AuthenticationForm(action=action, filled=values)
    if error:
        form.show_error(*error)
    else:
        messages.info(request, f"{filled_from} Review the fields, then Save.")
    if request.POST.get("client_secret"):
        messages.warning(request, "Enter the Client Secret again: a secret is never sent back.")
    return form


@login_required
def action_auth(request, gpt_id, action_id):
    action = _own_action(request, gpt_id, action_id)
    if request.method == "POST" and {"discover", "apply_preset"} & set(request.POST):
        form = _filled_auth_form(request, action)
    else:
        form = AuthenticationForm(request.POST or None, action=action)
    if request.method == "POST" and form.is_bound and form.is_valid():
        signed_out = save_authentication(action, form.cleaned_data)
        messages.success(request, f"Authentication set to {action.auth_summary()}.")
        if signed_out:
            messages.warning(
                request, f"Signed out {signed_out} user(s): their sign-in no longer applies."
            )
        return redirect("editor:action-edit", gpt_id, action_id)
    context = {
        "gpt": action.gpt,
        "action": action,
        "form": form,
        "signed_in": oauth.signed_in_count(action),
    }
    return render(request, "editor/action_auth.html", context)


@require_POST
@login_required
def action_delete(request, gpt_id, action_id):
    action = _own_action(request, gpt_id, action_id)
    action.delete()
    messages.success(request, f"Deleted the action for {action.domain}.")
    return redirect("editor:gpt-edit", gpt_id)
