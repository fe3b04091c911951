"""Get an agent API token the way an agent backend would: OAuth 2.0 authorization code + PKCE
against this app's own provider at /o/, approved by the end user in a browser.

    python manage.py agent_token            # prints a URL; open it, approve; prints the token

It listens once on http://127.0.0.1:8765/callback (the Demo agent application's redirect URI,
registered by load_demo) and talks to the running app at SITE_URL; it is a development tool,
so it uses the standard library rather than the guarded outbound module meant for actions.
"""

import base64
import hashlib
import json
import secrets
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.models import Application

DEMO_AGENT_APP = "Demo agent"
CALLBACK_PORT = 8765
REDIRECT_URI = f"http://127.0.0.1:{CALLBACK_PORT}/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(client_id: str, *, state: str, challenge: str) -> str:
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "actions",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{settings.SITE_URL}/o/authorize/?{query}"


def exchange(client_id: str, *, code: str, verifier: str) -> dict:
    """POST the code to /o/token/; the reply's JSON (access_token, refresh_token, ...)."""
    body = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
    ).encode()
    url = f"{settings.SITE_URL}/o/token/"  # SITE_URL is http(s), checked at start
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
        return json.loads(response.read())


def wait_for_code(state: str) -> str:
    received: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            received.update(params)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Done. You can close this tab and go back to the terminal.\n")

        def log_message(self, *args):
            pass

    with HTTPServer(("127.0.0.1", CALLBACK_PORT), Handler) as server:
        server.timeout = 300
        server.handle_request()
    if received.get("state") != state:
        raise CommandError("The reply's state does not match; start again.")
    if "code" not in received:
        raise CommandError(f"No code: {received.get('error', 'no reply within 5 minutes')}")
    return received["code"]


class Command(BaseCommand):
    help = "Sign in as an end user and print an access token (scope 'actions') for the agent API."

    def handle(self, *args, **options):
        app = Application.objects.filter(name=DEMO_AGENT_APP).first()
        if app is None:
            raise CommandError("No 'Demo agent' application: run `make demo` (load_demo) first.")
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        self.stdout.write("Open this URL in the browser where you are signed in, and approve:\n")
        self.stdout.write(
            f"\n  {authorize_url(app.client_id, state=state, challenge=challenge)}\n\n"
        )
        code = wait_for_code(state)
        token = exchange(app.client_id, code=code, verifier=verifier)
        self.stdout.write(f"export AGENT_TOKEN={token['access_token']}\n")
        api = f"{settings.SITE_URL}/api/v1/gpts/GPT_ID/tools"
        self.stdout.write(f'curl -H "Authorization: Bearer $AGENT_TOKEN" {api}\n')
