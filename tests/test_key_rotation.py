"""rotate_encryption_key: every secret re-encrypted with the newest key, readable after the old
key is dropped."""

import io

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import CommandError, call_command
from django.db import connection
from encrypted_model_fields import fields as encrypted

from actions.models import Action, Connection, PendingSignIn
from actions.schemas import save_action_schema
from tests.schemas import WEATHER

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()


def use_keys(monkeypatch, *keys):
    monkeypatch.setattr(encrypted, "CRYPTER", MultiFernet([Fernet(k) for k in keys]))


def raw(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def stored(monkeypatch, gpt, owner):
    use_keys(monkeypatch, OLD)
    action, _ = save_action_schema(gpt=gpt, text=WEATHER)
    action.auth_type, action.client_id, action.client_secret = "oauth", "cid", "client-secret-1"
    action.save()
    conn = Connection.objects.create(
        user=owner, action=action, access_token="at-1", refresh_token="rt-1"
    )
    pending = PendingSignIn.objects.create(
        user=owner, action=action, state_hash="x" * 64, code_verifier="v-1"
    )
    return action, conn, pending


def test_it_re_encrypts_every_secret_and_survives_dropping_the_old_key(monkeypatch, stored):
    action, conn, pending = stored
    before = raw("actions_action", "client_secret", action.pk)
    use_keys(monkeypatch, NEW, OLD)
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "Re-encrypted 4 secret(s) in 3 row(s)" in out.getvalue()
    after = raw("actions_action", "client_secret", action.pk)
    assert after != before and Fernet(NEW).decrypt(after.encode()) == b"client-secret-1"

    use_keys(monkeypatch, NEW)  # the old key is gone
    assert Action.objects.get(pk=action.pk).client_secret == "client-secret-1"
    conn = Connection.objects.get(pk=conn.pk)
    assert (conn.access_token, conn.refresh_token) == ("at-1", "rt-1")
    assert PendingSignIn.objects.get(pk=pending.pk).code_verifier == "v-1"


def test_it_lists_secrets_no_key_can_read_and_leaves_them(monkeypatch, stored):
    action, _, _ = stored
    before = raw("actions_action", "client_secret", action.pk)
    use_keys(monkeypatch, NEW)  # OLD was dropped before rotating: nothing can read them
    with pytest.raises(CommandError, match="4 secret\\(s\\) could not be decrypted"):
        call_command("rotate_encryption_key", stdout=io.StringIO())
    assert raw("actions_action", "client_secret", action.pk) == before
