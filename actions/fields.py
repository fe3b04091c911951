"""Encrypted secret fields that fail loudly.

django-encrypted-model-fields 0.6.5 returns the ciphertext unchanged when it cannot decrypt
(wrong or dropped FIELD_ENCRYPTION_KEY), which would send ciphertext to an API as if it were
the key. Here a value that does not decrypt becomes an UnreadableSecret, which is not a str:
it cannot be concatenated into a header by mistake, and `reveal()` raises a clear error.
"""

import cryptography.fernet
from encrypted_model_fields import fields as encrypted


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted with the configured FIELD_ENCRYPTION_KEY."""


class UnreadableSecret:
    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str):
        self.ciphertext = ciphertext

    def __bool__(self) -> bool:  # a secret is stored, even if we cannot read it
        return True

    def __repr__(self) -> str:
        return "<UnreadableSecret>"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, UnreadableSecret) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


def reveal(value, *, what: str) -> str:
    """The plaintext of a secret field, or SecretUnreadable naming which secret failed."""
    if isinstance(value, UnreadableSecret):
        raise SecretUnreadable(
            f"The stored {what} cannot be decrypted with the current FIELD_ENCRYPTION_KEY; "
            "restore the key it was saved with, or enter the secret again."
        )
    return value or ""


class SecretField(encrypted.EncryptedTextField):
    """Encrypted text; blank is stored as blank so that 'is a secret set?' needs no key."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return encrypted.CRYPTER.decrypt(value.encode("utf-8")).decode("utf-8")
        except cryptography.fernet.InvalidToken:
            return UnreadableSecret(value)

    def to_python(self, value):
        # Values reaching to_python come from forms or code, never from the database.
        if isinstance(value, UnreadableSecret) or value is None:
            return value
        return str(value)

    def get_db_prep_save(self, value, connection):
        if isinstance(value, UnreadableSecret):
            return value.ciphertext  # keep what is stored, untouched
        if value is None or value == "":
            return value
        return encrypted.encrypt_str(str(value)).decode("utf-8")
