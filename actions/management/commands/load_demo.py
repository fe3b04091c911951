"""Demo data for `make run`: a builder account whose name and password are printed."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "builder"


class Command(BaseCommand):
    help = "Create (once) the demo builder account and print how to sign in."

    def handle(self, *args, **options):
        password = self._demo_password()
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "builder@example.com"}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"\nSign in at {settings.SITE_URL}/ as\n"
                f"  username: {DEMO_USERNAME}\n"
                f"  password: {password}\n"
            )
        )

    def _demo_password(self) -> str:
        # Generated once per checkout and kept in the ignored .local/ folder.
        path = settings.LOCAL_DIR / "demo_password"
        if not path.exists():
            settings.LOCAL_DIR.mkdir(mode=0o700, exist_ok=True)
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        return path.read_text().strip()
