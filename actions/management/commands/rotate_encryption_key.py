"""Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEY.

Key rotation: put the new key first (FIELD_ENCRYPTION_KEY=new,old), run this, then drop the
old key. Secrets that no configured key can decrypt are listed and left untouched.
"""

import cryptography.fernet
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from encrypted_model_fields import fields as encrypted

from actions.fields import SecretField


def secret_fields():
    for model in apps.get_models():
        names = [f.name for f in model._meta.get_fields() if isinstance(f, SecretField)]
        if names:
            yield model, names


def _write_raw(model, pk, columns: dict[str, str]) -> None:
    """Store ciphertext as is: the field itself would encrypt the value again."""
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for column in columns)
    table, pk_column = quote(model._meta.db_table), quote(model._meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s"  # noqa: S608 - model names
    with connection.cursor() as cursor:
        cursor.execute(sql, [*columns.values(), pk])


class Command(BaseCommand):
    help = "Re-encrypt every secret with the first FIELD_ENCRYPTION_KEY; reports how many rows."

    @transaction.atomic
    def handle(self, *args, **options):
        crypter = encrypted.CRYPTER  # MultiFernet over FIELD_ENCRYPTION_KEY, newest first
        rows = secrets = 0
        unreadable = []
        for model, names in secret_fields():
            # Cast reads the stored ciphertext itself, not the field's decrypted value.
            raw = model.objects.annotate(**{f"raw_{n}": Cast(n, TextField()) for n in names})
            for obj in raw.only("pk").iterator():
                changes = {}
                for name in names:
                    ciphertext = getattr(obj, f"raw_{name}")
                    if not ciphertext:
                        continue
                    try:
                        rotated = crypter.rotate(ciphertext.encode()).decode()
                    except cryptography.fernet.InvalidToken:
                        unreadable.append(f"{model._meta.label} {obj.pk} {name}")
                        continue
                    changes[model._meta.get_field(name).column] = rotated
                if changes:
                    _write_raw(model, obj.pk, changes)
                    rows += 1
                    secrets += len(changes)
        self.stdout.write(f"Re-encrypted {secrets} secret(s) in {rows} row(s) with the first key.")
        if unreadable:
            listing = "\n  ".join(unreadable)
            raise CommandError(
                f"{len(unreadable)} secret(s) could not be decrypted with any configured key "
                f"and were left as they are:\n  {listing}"
            )
