"""Tiny helpers that read settings from the environment, strictly.

A typo in a boolean ("ture", "1", "yes") is an error at start, never a silent False.
Any variable may also be read from a file named by NAME_FILE (for container secrets).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str | None = None) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            with open(file_name, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}"
            ) from None
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {raw!r}")


def env_list(name: str, default: str = "") -> list[str]:
    raw = env_str(name, default) or ""
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def local_secret(path: Path, make: Callable[[], str]) -> str:
    """A development secret generated once into `path` (mode 0600) and reused after."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        try:  # created 0600 from the start, and only once if two processes race here
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
    return path.read_text().strip()


PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def env_rate(name: str, default: str) -> Rate | None:
    """`60/minute` → Rate(60, 60); `off` → None (no limit)."""
    text = (env_str(name) or default).strip().lower()
    if text == "off":
        return None
    count, _, period = text.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in PERIODS:
        raise ImproperlyConfigured(f"{name} must look like 60/minute (or off), not {text!r}")
    return Rate(int(count), PERIODS[period])
