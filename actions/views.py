"""End-user pages: the connections a user has made to OAuth domains."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def connections(request):
    # Connections are made when an end user signs in to an action's OAuth provider.
    return render(request, "actions/connections.html", {"connections": []})
