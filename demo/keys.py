"""The demo API's key: what a builder pastes into an action's API Key authentication."""

import secrets

from django.conf import settings

from config.env import env_str, local_secret


def demo_api_key() -> str:
    """DEMO_API_KEY (or DEMO_API_KEY_FILE) if set, else a key generated once per checkout."""
    return env_str("DEMO_API_KEY") or local_secret(
        settings.LOCAL_DIR / "demo_api_key", lambda: secrets.token_urlsafe(24)
    )
