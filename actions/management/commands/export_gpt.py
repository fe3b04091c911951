from django.core.management.base import BaseCommand, CommandError

from actions.gptfile import export_gpt
from actions.models import GPT


class Command(BaseCommand):
    help = "Print a GPT as a YAML GPT file (secrets appear only as ${ENV_VAR} references)."

    def add_arguments(self, parser):
        parser.add_argument("gpt_id")

    def handle(self, *args, gpt_id, **options):
        try:
            gpt = GPT.objects.get(id=gpt_id)
        except GPT.DoesNotExist:
            raise CommandError(f"No GPT with id {gpt_id!r}") from None
        self.stdout.write(export_gpt(gpt), ending="")
