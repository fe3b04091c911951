"""Settings come from the environment and refuse what they cannot trust."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]


def start(**env) -> subprocess.CompletedProcess:
    """Start Django in a fresh process with only the given settings variables."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "FIELD_", "ACTIONS_", "SITE_URL", "DATABASE_URL"))
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_a_boolean_that_is_not_true_or_false():
    result = start(DJANGO_DEBUG="yes")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be 'true' or 'false', not 'yes'" in result.stderr


def test_it_refuses_to_start_without_an_encryption_key_when_debug_is_off():
    result = start(
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x" * 50, DJANGO_ALLOWED_HOSTS="example.com"
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY must be set" in result.stderr


def test_it_refuses_a_malformed_encryption_key():
    result = start(DJANGO_DEBUG="true", FIELD_ENCRYPTION_KEY="not-a-key")
    assert result.returncode != 0
    assert "not a url-safe base64 32-byte Fernet key" in result.stderr


def test_it_starts_with_production_settings():
    result = start(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="example.com",
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ACTIONS_ALLOW_PRIVATE_NETWORKS="false",
        SITE_URL="https://actions.example.com",
    )
    assert result.returncode == 0, result.stderr


def test_it_refuses_a_relative_site_url():
    result = start(DJANGO_DEBUG="true", SITE_URL="actions.example.com")
    assert result.returncode != 0
    assert "SITE_URL must be an absolute http(s) URL" in result.stderr


@pytest.mark.parametrize("value", ["1", "True ", "on", "nope"])
def test_env_bool_accepts_only_true_and_false(monkeypatch, value):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_bool

    monkeypatch.setenv("SOME_FLAG", value)
    if value.strip().lower() == "true":
        assert env_bool("SOME_FLAG", False) is True
    else:
        with pytest.raises(ImproperlyConfigured):
            env_bool("SOME_FLAG", False)
