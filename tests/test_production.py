"""Production serving as an operator runs it: gunicorn, debug off, whitenoise, security headers."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ACTIONS_", "FIELD_"))
    }
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="p" * 20 + "roduction-secret-key-for-the-test-only-0123456789",
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        SITE_URL="https://actions.example.com",
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        DJANGO_BEHIND_PROXY="true",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
    )
    manage = [str(BIN / "python"), "manage.py"]
    check = subprocess.run(
        [*manage, "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    for command in (["migrate", "--no-input", "-v0"], ["collectstatic", "--no-input", "-v0"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield {"base": base, "check": check}
    finally:
        server.terminate()
        server.wait(timeout=10)


HTTPS = {"X-Forwarded-Proto": "https"}


def test_check_deploy_is_clean(production):
    check = production["check"]
    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout


def test_it_redirects_plain_http_to_https(production):
    response = requests.get(
        f"{production['base']}/accounts/login/", allow_redirects=False, timeout=5
    )
    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://")


def test_pages_carry_the_security_headers(production):
    response = requests.get(f"{production['base']}/accounts/login/", headers=HTTPS, timeout=5)
    assert response.status_code == 200
    headers = response.headers
    assert "max-age=31536000" in headers["Strict-Transport-Security"]
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert (
        "Secure" in headers["Set-Cookie"]
        and "HttpOnly" not in headers["Set-Cookie"].split("csrftoken")[0]
    )
    assert "<script>" not in response.text and " style=" not in response.text


def test_static_files_are_served_hashed_and_compressed(production):
    page = requests.get(f"{production['base']}/accounts/login/", headers=HTTPS, timeout=5).text
    css = re.search(r'href="(/static/css/app\.[0-9a-f]+\.css)"', page)
    assert css, "the stylesheet should have a hashed name"
    response = requests.get(
        production["base"] + css.group(1), headers={**HTTPS, "Accept-Encoding": "gzip"}, timeout=5
    )
    assert response.status_code == 200
    assert "max-age=315360000" in response.headers["Cache-Control"]
    assert response.headers.get("Content-Encoding") == "gzip"


def test_the_demo_api_is_off_in_production(production):
    response = requests.get(
        f"{production['base']}/demo/api/forecast?city=Oslo", headers=HTTPS, timeout=5
    )
    assert response.status_code == 404
