"""Three users, as in healthchecks: the owner of the GPTs, another builder, and an outsider."""

import pytest

from actions.models import GPT

PASSWORD = "correct horse battery staple"


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("mallory", "mallory@example.com", PASSWORD)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def gpt(owner):
    return GPT.objects.create(owner=owner, name="Weather helper", description="Looks up weather")


@pytest.fixture
def upstream():
    """A real local HTTP server that records what reached it."""
    from tests.upstream import RecordingUpstream

    server = RecordingUpstream()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # DOT hashes client secrets with the password hasher: PBKDF2 makes each Application ~0.5 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_rate_limits(settings):
    # Test users share ids across tests; tests/test_ratelimit.py sets its own limits.
    settings.ACTIONS_RATE_LIMITS = {"invoke": None, "sign_in": None}
