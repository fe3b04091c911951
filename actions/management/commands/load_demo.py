"""Demo data for `make run`: a builder account (printed) and a demo GPT on the bundled demo API."""

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from actions.models import GPT, Action
from actions.schemas import save_action_schema
from config.env import local_secret

DEMO_USERNAME = "builder"
DEMO_GPT_NAME = "Demo GPT"
DEMO_PROVIDER_APP = "Demo profile API (bundled provider)"


def demo_server_url(host: str) -> str:
    """The bundled demo API as seen on another loopback name (one action per domain)."""
    site = urlsplit(settings.SITE_URL)
    port = f":{site.port}" if site.port else ""
    return f"{site.scheme}://{host}{port}/demo/api"


class Command(BaseCommand):
    help = "Create (once) the demo builder account and demo GPT, and print how to sign in."

    def handle(self, *args, **options):
        password = local_secret(
            settings.LOCAL_DIR / "demo_password", lambda: secrets.token_urlsafe(12)
        )
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "builder@example.com"}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        lines = [
            f"\nSign in at {settings.SITE_URL}/ as",
            f"  username: {DEMO_USERNAME}",
            f"  password: {password}",
        ]
        if settings.ACTIONS_DEMO_API:
            gpt = self._demo_gpt(user)
            lines.append(f"Demo GPT: {settings.SITE_URL}/g/{gpt.id}/")
            lines.append("Agent API token: .venv/bin/python manage.py agent_token")
        self.stdout.write(self.style.SUCCESS("\n".join(lines) + "\n"))

    @transaction.atomic
    def _demo_gpt(self, user) -> GPT:
        from demo.keys import demo_api_key
        from demo.schemas import public_schema, vault_schema

        gpt, _ = GPT.objects.get_or_create(
            owner=user,
            name=DEMO_GPT_NAME,
            defaults={
                "description": "The bundled demo API: forecast, keyed vault, profile (OAuth).",
                "visibility": GPT.Visibility.LINK,
            },
        )
        # Three actions, three loopback domains; the OAuth one takes the site's own host.
        public_host = (
            "127.0.0.1" if urlsplit(settings.SITE_URL).hostname == "localhost" else "localhost"
        )
        public_url, vault_url = demo_server_url(public_host), demo_server_url("vault.localhost")
        public = gpt.actions.filter(domain=public_host).first()
        save_action_schema(gpt=gpt, text=public_schema(public_url), action=public)
        vault = gpt.actions.filter(domain="vault.localhost").first()
        vault, _ = save_action_schema(gpt=gpt, text=vault_schema(vault_url), action=vault)
        vault.auth_type = Action.AuthType.API_KEY
        vault.api_key = demo_api_key()
        vault.api_key_auth_type = Action.ApiKeyAuthType.CUSTOM
        vault.custom_header_name = "X-Demo-Key"
        vault.save()
        self._profile_action(gpt)
        self._agent_app(gpt.owner)
        return gpt

    def _agent_app(self, user) -> None:
        """A public client for agent backends: authorization code + PKCE, scope `actions`."""
        from oauth2_provider.models import Application

        from actions.management.commands.agent_token import DEMO_AGENT_APP, REDIRECT_URI

        app, _ = Application.objects.get_or_create(
            name=DEMO_AGENT_APP,
            defaults={
                "client_type": Application.CLIENT_PUBLIC,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "user": user,
            },
        )
        app.redirect_uris = REDIRECT_URI
        app.algorithm = ""
        app.save()

    def _profile_action(self, gpt: GPT) -> None:
        """The OAuth demo: the bundled provider at /o/ protects the demo API's /me, on the
        site's own host so that approving at the provider uses the user's session."""
        from oauth2_provider.models import Application

        from demo.schemas import profile_schema

        secret = local_secret(
            settings.LOCAL_DIR / "demo_oauth_secret", lambda: secrets.token_urlsafe(32)
        )
        app, _ = Application.objects.get_or_create(
            name=DEMO_PROVIDER_APP,
            defaults={
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            },
        )
        app.redirect_uris = gpt.callback_url
        app.client_secret = secret  # DOT stores a hash of it
        app.algorithm = ""
        app.save()
        site_host = urlsplit(settings.SITE_URL).hostname
        profile = gpt.actions.filter(domain=site_host).first()
        profile, _ = save_action_schema(
            gpt=gpt, text=profile_schema(f"{settings.SITE_URL}/demo/api"), action=profile
        )
        profile.auth_type = Action.AuthType.OAUTH
        profile.client_id = app.client_id
        profile.client_secret = secret
        profile.authorization_url = f"{settings.SITE_URL}/o/authorize/"
        profile.token_url = f"{settings.SITE_URL}/o/token/"
        profile.revocation_url = f"{settings.SITE_URL}/o/revoke_token/"
        profile.scope = "profile"
        profile.token_exchange_method = Action.TokenExchangeMethod.BASIC_AUTH_HEADER
        profile.pkce_enabled = True
        profile.save()
