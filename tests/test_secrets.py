"""Secrets at rest: encrypted, and a key that cannot decrypt them is an error, never ciphertext."""

import pytest
from cryptography.fernet import Fernet, MultiFernet
from encrypted_model_fields import fields as encrypted

from actions.fields import SecretUnreadable, UnreadableSecret, reveal
from actions.models import Action
from actions.schemas import save_action_schema
from tests.schemas import WEATHER

pytestmark = pytest.mark.django_db


def test_it_reads_back_a_stored_secret(gpt):
    action, _ = save_action_schema(gpt=gpt, text=WEATHER)
    action.auth_type, action.api_key = "api_key", "key-123"
    action.save()
    assert reveal(Action.objects.get(pk=action.pk).api_key, what="API key") == "key-123"


def test_it_refuses_to_hand_back_ciphertext_after_the_key_changed(gpt, monkeypatch):
    action, _ = save_action_schema(gpt=gpt, text=WEATHER)
    action.auth_type, action.api_key = "api_key", "key-123"
    action.save()
    monkeypatch.setattr(encrypted, "CRYPTER", MultiFernet([Fernet(Fernet.generate_key())]))
    stored = Action.objects.get(pk=action.pk).api_key
    assert isinstance(stored, UnreadableSecret)
    assert "key-123" not in str(stored) and stored.ciphertext not in str(stored)
    with pytest.raises(
        SecretUnreadable, match="cannot be decrypted with the current FIELD_ENCRYPTION_KEY"
    ):
        reveal(stored, what="API key")


def test_it_keeps_an_unreadable_secret_untouched_when_saving_other_fields(gpt, monkeypatch):
    action, _ = save_action_schema(gpt=gpt, text=WEATHER)
    action.auth_type, action.api_key = "api_key", "key-123"
    action.save()
    original = encrypted.CRYPTER
    monkeypatch.setattr(encrypted, "CRYPTER", MultiFernet([Fernet(Fernet.generate_key())]))
    stranger = Action.objects.get(pk=action.pk)
    stranger.title = "renamed"
    stranger.save()
    monkeypatch.setattr(encrypted, "CRYPTER", original)
    assert Action.objects.get(pk=action.pk).api_key == "key-123"
