"""The demo as `make run` serves it: its own process, a SQLite file, the bundled provider
sharing that database. Sign in, call, force expiry, call again (a refresh), sign out.

The in-process tests use an in-memory database, whose locking differs from a file's: this
one caught a refresh that held a SQLite transaction open across the provider's own write.
"""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(Path(sys.executable).parent / "python")

pytestmark = pytest.mark.django_db(transaction=True)  # the browser fixture's event loop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_server(tmp_path):
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ACTIONS_", "FIELD_"))
    }
    env.update(
        DJANGO_DEBUG="true",
        ACTIONS_ALLOW_PRIVATE_NETWORKS="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SITE_URL=f"http://127.0.0.1:{port}",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

    def manage(*args) -> str:
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    manage("migrate", "--no-input", "-v0")
    printed = manage("load_demo")
    password = re.search(r"password: (\S+)", printed).group(1)
    gpt_id = re.search(r"/g/(g-[\w-]+)/", printed).group(1)
    server = subprocess.Popen(
        [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/accounts/login/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield {"base": base, "password": password, "gpt": gpt_id, "manage": manage}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_demo_signs_in_refreshes_and_signs_out(browser, demo_server):
    base, gpt = demo_server["base"], demo_server["gpt"]
    page = browser.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("builder")
    page.get_by_label("Password").fill(demo_server["password"])
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/g/{gpt}/")
    card = page.locator("#op-getMyProfile")
    card.get_by_role("button", name="Sign in to 127.0.0.1").click()
    page.get_by_role("button", name="Sign in to 127.0.0.1").click()
    page.get_by_role("button", name="Authorize").click()
    assert '"username": "builder"' in page.locator("#op-getMyProfile pre").inner_text()

    assert "1 connection(s)" in demo_server["manage"]("expire_connections", "--user", "builder")
    page.locator("#op-getMyProfile").get_by_role("button", name="Run").click()
    assert '"username": "builder"' in page.locator("#op-getMyProfile pre").inner_text()

    page.goto(f"{base}/connections/")
    page.get_by_role("button", name="Sign out", exact=True).click()
    assert "revoked your tokens" in page.locator(".messages").inner_text()
    page.goto(f"{base}/g/{gpt}/")
    assert (
        page.locator("#op-getMyProfile")
        .get_by_role("button", name="Sign in to 127.0.0.1")
        .is_visible()
    )
    page.close()
