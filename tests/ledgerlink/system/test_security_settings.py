"""Production settings pass Django's deployment checks; cookies and sessions are set up securely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests.ledgerlink.factories import make_user

PROD_SECRET = "k3J9-prod-test-secret-" + "Qx7wZr2LmN8vB4tY6uH1" * 3


def production_env(**extra: str) -> dict[str, str]:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; production never has it.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "SESSION_", "DEBUG")) and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        LEDGERLINK_ENV="production",
        SECRET_KEY=PROD_SECRET,
        LEDGERLINK_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="ledgerlink.example.com",
        DJANGO_SETTINGS_MODULE="ledgerlink.settings",
    )
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ledgerlink.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = run_cli(["check", "--deploy", "--fail-level", "WARNING"], production_env(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_when_a_production_safeguard_is_turned_off(tmp_path):
    # The check above would be worthless if it could not fail: turning HTTPS redirects off must
    # make it fail with Django's security.W008.
    result = run_cli(
        ["check", "--deploy", "--fail-level", "WARNING"],
        production_env(SECURE_SSL_REDIRECT="false"),
        tmp_path,
    )
    assert result.returncode == 1
    assert "security.W008" in result.stderr + result.stdout


def test_production_refuses_to_start_without_secrets(tmp_path):
    env = production_env()
    del env["LEDGERLINK_ENCRYPTION_KEYS"]
    result = run_cli(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "LEDGERLINK_ENCRYPTION_KEYS must be set when LEDGERLINK_ENV=production" in result.stderr
    env = production_env()
    del env["SECRET_KEY"]
    result = run_cli(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when LEDGERLINK_ENV=production" in result.stderr


def settings_of(names: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_environment_names_are_case_insensitive(tmp_path):
    for spelling in ("Production", "PRODUCTION", " production "):
        result = settings_of(
            ["ENV", "PRODUCTION", "DEBUG", "SESSION_COOKIE_SECURE"],
            production_env(LEDGERLINK_ENV=spelling),
            tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "ENV": "production",
            "PRODUCTION": True,
            "DEBUG": False,
            "SESSION_COOKIE_SECURE": True,
        }
    result = settings_of(["ENV", "PRODUCTION"], production_env(LEDGERLINK_ENV="Development"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ENV": "development", "PRODUCTION": False}


def test_unknown_environment_names_refuse_to_start(tmp_path):
    # "prod" or "staging" used to run as development: DEBUG on, the development SECRET_KEY.
    for spelling in ("prod", "staging", "", "production1"):
        result = run_cli(["check"], production_env(LEDGERLINK_ENV=spelling), tmp_path)
        assert result.returncode != 0, spelling
        assert (
            f"LEDGERLINK_ENV={spelling!r} is not known: set it to one of development, production "
            "(case does not matter)"
        ) in result.stderr
        assert "System check identified" not in result.stdout


def test_production_security_settings(tmp_path):
    names = [
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE",
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_AGE",
        "SESSION_SAVE_EVERY_REQUEST",
        "CSRF_COOKIE_SECURE",
        "CSRF_COOKIE_NAME",
        "CSRF_COOKIE_SAMESITE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SECURE_REFERRER_POLICY",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY",
        "SECURE_PROXY_SSL_HEADER",
        "X_FRAME_OPTIONS",
        "ALLOWED_HOSTS",
        "LEDGERLINK_CSP_FORM_ACTION",
        "LEDGERLINK_CSP_REPORT_ONLY",
    ]
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=production_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "SESSION_COOKIE_AGE": 1800,
        "SESSION_SAVE_EVERY_REQUEST": True,
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "X_FRAME_OPTIONS": "DENY",
        "ALLOWED_HOSTS": ["ledgerlink.example.com"],
        "LEDGERLINK_CSP_FORM_ACTION": ["https://appcenter.intuit.com"],
        "LEDGERLINK_CSP_REPORT_ONLY": False,
    }


def test_session_cookie_is_httponly_samesite_and_expires_after_idle_time(client, db):
    assert settings.SESSION_COOKIE_AGE == 1800
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    user = make_user("alice", "viewer")
    client.force_login(user)

    response = client.get("/healthz")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 1800
    assert cookie["path"] == "/"
    assert cookie["domain"] == ""

    # Every request pushes the server-side expiry out again: the timeout counts idle time.
    session = Session.objects.get(session_key=cookie.value)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() + timedelta(seconds=60))
    client.get("/healthz")
    renewed = Session.objects.get(pk=session.pk).expire_date
    assert timedelta(seconds=1790) < renewed - timezone.now() <= timedelta(seconds=1800)

    assert client.get("/").status_code == 200

    # After the idle time the session is gone: the same cookie no longer signs anybody in.
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_logout_ends_the_session_on_the_server(client, db):
    user = make_user("olga", "operator")
    client.force_login(user)
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.post("/logout/").status_code == 302
    assert not Session.objects.filter(session_key=old_key).exists()
    # Replaying the old cookie signs nobody in.
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_key
    response = replay.get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")


def test_a_deactivated_user_is_signed_out_at_the_next_request(client, db):
    user = make_user("pat", "operator")
    client.force_login(user)
    assert client.get("/").status_code == 200
    user.is_active = False
    user.save()
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")
    assert client.post("/requests/1/requeue").status_code == 302
