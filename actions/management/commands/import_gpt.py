from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from actions.gptfile import GPTFileError, import_gpt


class Command(BaseCommand):
    help = "Create a GPT from a YAML GPT file; prints the new GPT's id on the last line."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--owner", required=True, help="username of the GPT's owner")

    def handle(self, *args, file, owner, **options):
        try:
            user = get_user_model().objects.get(username=owner)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {owner!r}") from None
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read: {exc}") from None
        try:
            gpt = import_gpt(text, owner=user)
        except GPTFileError as exc:
            where = f"{file}:{exc.line}" if exc.line else file
            raise CommandError(f"{where}: {exc.message}; nothing was created") from None
        self.stdout.write(gpt.id)
