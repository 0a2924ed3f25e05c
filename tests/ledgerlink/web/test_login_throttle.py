"""Sign-in throttling with django-axes (issue 18): failures count on the NFKC-normalised username and
the client address; X-Forwarded-For is read only from a trusted proxy."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from ledgerlink.core.models import AuditLog
from tests.ledgerlink.factories import PASSWORD, make_login_user

pytestmark = pytest.mark.django_db

THROTTLED = "Too many failed sign-ins for this user from your address. Try again in 15 minutes."


def sign_in(username: str, password: str, **meta):
    return Client().post(reverse("web:login"), {"username": username, "password": password}, **meta)


def fail(times: int, username: str, **meta) -> list[int]:
    return [sign_in(username, "wrong-password", **meta).status_code for _ in range(times)]


def test_full_width_letters_share_the_lockout_of_the_plain_name():
    make_login_user("victim", "admin")
    # Django signs ｖｉｃｔｉｍ in as victim (NFKC): the failures of both spellings add up
    assert fail(3, "victim") + fail(1, "ｖｉｃｔｉｍ") == [200, 200, 200, 200]
    assert fail(1, "ＶＩＣＴＩＭ") == [429]  # the fifth failure locks the pair out
    for spelling in ("ｖｉｃｔｉｍ", "victim", "Victim"):
        resp = sign_in(spelling, PASSWORD)
        assert resp.status_code == 429, spelling
        assert THROTTLED in resp.content.decode()
        assert "_auth_user_id" not in resp.client.session
    assert list(AuditLog.objects.filter(action="auth.login_failed").values_list("data__username", flat=True)) == [
        "victim"] * 5
    assert AuditLog.objects.filter(action="auth.login_throttled").count() == 3
    assert not AuditLog.objects.filter(action="auth.login").exists()
    # from another address the user still signs in
    assert sign_in("victim", PASSWORD, REMOTE_ADDR="192.0.2.44").status_code == 302


def test_a_forged_forwarded_for_from_an_untrusted_address_does_not_escape_the_lockout(settings):
    settings.LEDGERLINK_TRUSTED_PROXIES = ["10.0.0.1"]
    make_login_user("victim", "admin")
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    assert fail(5, "victim", **attacker) == [200, 200, 200, 200, 429]
    for forged in ("198.51.100.1", "198.51.100.2, 10.0.0.1", "127.0.0.1"):
        resp = sign_in("victim", PASSWORD, HTTP_X_FORWARDED_FOR=forged, **attacker)
        assert resp.status_code == 429, forged
    assert list(AuditLog.objects.filter(action="auth.login_throttled").values_list("data__ip", flat=True)) == [
        "203.0.113.9"] * 3
    assert not AuditLog.objects.filter(action="auth.login").exists()


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(settings):
    settings.LEDGERLINK_TRUSTED_PROXIES = ["127.0.0.1"]
    make_login_user("victim", "admin")
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    # the attacker's client prepends a forged address; the proxy appends the address it saw
    assert fail(5, "victim", HTTP_X_FORWARDED_FOR="192.0.2.200, 203.0.113.9", **proxy) == [200] * 4 + [429]
    assert sign_in("victim", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200, 203.0.113.9", **proxy).status_code == 429
    assert sign_in("victim", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy).status_code == 429
    # another client behind the same proxy is not locked out
    ok = sign_in("victim", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.20", **proxy)
    assert ok.status_code == 302
    assert AuditLog.objects.get(action="auth.login").data == {"ip": "198.51.100.20"}
    assert set(AuditLog.objects.filter(action="auth.login_failed").values_list("data__ip", flat=True)) == {
        "203.0.113.9"}


def test_without_trusted_proxies_forwarded_for_is_never_read(settings):
    settings.LEDGERLINK_TRUSTED_PROXIES = []
    make_login_user("pat", "viewer")
    assert fail(5, "pat", HTTP_X_FORWARDED_FOR="198.51.100.1") == [200, 200, 200, 200, 429]
    assert sign_in("pat", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429
    assert set(AuditLog.objects.filter(action="auth.login_failed").values_list("data__ip", flat=True)) == {
        "127.0.0.1"}
