"""Sign in to [domain]: the start of an end user's OAuth grant, and the provider's callback."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from actions import oauth, ratelimit
from actions.models import Action, Connection, PendingSignIn
from actions.views import rate_limited


def safe_next(request, candidate: str | None, *, default: str) -> str:
    """Only a same-origin path: never a URL that leaves this site, nor one the database
    cannot keep (too long, or with a NUL) while the user is at the provider."""
    if (
        candidate
        and candidate.startswith("/")
        and not candidate.startswith("//")
        and len(candidate) <= PendingSignIn._meta.get_field("next_url").max_length
        and "\x00" not in candidate
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()})
    ):
        return candidate
    return default


@login_required
def sign_in(request, gpt_id, action_id):
    action = get_object_or_404(
        Action.objects.select_related("gpt"),
        id=action_id,
        gpt__id=gpt_id,
        auth_type=Action.AuthType.OAUTH,
    )
    if not action.gpt.may_use(request.user):
        raise Http404("No such action.")
    default = reverse("gpt-page", args=[gpt_id])
    next_url = safe_next(
        request, request.POST.get("next") or request.GET.get("next"), default=default
    )
    if request.method == "POST":
        try:
            ratelimit.hit("sign_in", user_id=request.user.pk, what="sign-ins")
        except ratelimit.RateLimited as exc:
            return rate_limited(request, exc, gpt_id=gpt_id)
        url = oauth.start_sign_in(action=action, user=request.user, next_url=next_url)
        return redirect(url)
    context = {
        "action": action,
        "gpt": action.gpt,
        "scopes": oauth.scopes(action),
        "next": next_url,
    }
    return render(request, "actions/sign_in.html", context)


@login_required
def oauth_callback(request, gpt_id):
    try:
        connection, next_url = oauth.complete_sign_in(
            gpt_id=gpt_id, user=request.user, params=request.GET
        )
    except oauth.BadState as exc:
        return render(request, "actions/sign_in_failed.html", {"message": str(exc)}, status=400)
    except oauth.ProviderRefused as exc:
        context = {
            "message": str(exc),
            "error": exc.error,
            "description": exc.description,
            "try_again": exc.try_again,
        }
        return render(request, "actions/sign_in_failed.html", context, status=400)
    except oauth.ProviderUnavailable as exc:
        context = {"message": str(exc), "try_again": exc.try_again}
        return render(request, "actions/sign_in_failed.html", context, status=502)
    default = reverse("gpt-page", args=[gpt_id])
    return redirect(safe_next(request, next_url, default=default))


@login_required
def connections(request):
    """The domains the user is signed in to, with Sign out."""
    rows = Connection.objects.filter(user=request.user).select_related("action__gpt")
    return render(request, "actions/connections.html", {"connections": rows})


@require_POST
@login_required
def sign_out(request, connection_id):
    connection = get_object_or_404(
        Connection.objects.select_related("action__gpt"), id=connection_id, user=request.user
    )
    domain, revocable = connection.action.domain, bool(connection.action.revocation_url)
    revoked = oauth.sign_out(connection)
    if revoked:
        messages.success(request, f"Signed out of {domain}; the provider revoked your tokens.")
    elif revocable:
        messages.warning(
            request, f"Signed out of {domain}. The provider did not confirm revoking the tokens."
        )
    else:
        messages.success(request, f"Signed out of {domain}; your tokens were deleted here.")
    return redirect("connections")
