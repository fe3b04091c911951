"""Mark users' OAuth connections as expired, so the next call refreshes them (demos, key rolls)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from actions.models import Connection


class Command(BaseCommand):
    help = "Set the expiry of OAuth connections to now; the next call refreshes the token."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="only this username's connections")
        parser.add_argument("--domain", help="only connections to this action domain")

    def handle(self, *args, user=None, domain=None, **options):
        connections = Connection.objects.filter(status=Connection.Status.ACTIVE)
        if user:
            connections = connections.filter(user__username=user)
        if domain:
            connections = connections.filter(action__domain=domain)
        count = connections.update(expires_at=timezone.now())
        self.stdout.write(f"{count} connection(s) will refresh on their next call.")
