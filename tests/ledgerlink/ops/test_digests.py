"""Failure digests over a real SMTP server on loopback: exactly one email per growth."""

import datetime as dt
import socket

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from ledgerlink.core.models import Company, PushRequest
from ledgerlink.domain.accounts.users import set_user_companies
from ledgerlink.ops.digests import send_digests
from ledgerlink.ops.models import DigestState
from tests.ledgerlink.factories import make_company, make_request, make_source, smtp_server  # noqa: F401

S = PushRequest.State
ADMINS = ["ops@example.com", "owner@example.com"]


@pytest.fixture
def admins(settings):
    settings.LEDGERLINK_ADMIN_EMAILS = ADMINS
    settings.LEDGERLINK_BASE_URL = "https://ll.example.com"
    settings.LEDGERLINK_DIGEST_MIN_FAILURES = 1
    settings.LEDGERLINK_DIGEST_PENDING_AGE_SECONDS = 3600
    settings.LEDGERLINK_DIGEST_ORDERS = 2
    settings.EMAIL_SUBJECT_PREFIX = "[Ledgerlink] "
    settings.DEFAULT_FROM_EMAIL = "ledgerlink@example.com"


def subjects(server):
    return [msg["Subject"] for _f, _r, msg in server.messages]


@pytest.mark.django_db
def test_one_email_per_growth_of_a_failure_kind(smtp_server, admins):  # noqa: F811
    acme = make_company("Acme")
    source = make_source(acme)
    first = make_request(acme, S.FAILED, source=source, number="A-1", error_kind="customer_ref_required",
                         error_message="Required param missing, need to supply the required value for the API")
    make_request(acme, S.FAILED, source=source, number="A-2", error_kind="customer_ref_required")
    make_request(acme, S.SUCCEEDED, source=source, number="A-3")

    sent = send_digests()
    assert [d.key for d in sent] == ["failed:customer_ref_required"]
    assert len(smtp_server.messages) == 1
    mail_from, rcpts, msg = smtp_server.messages[0]
    assert (mail_from, rcpts) == ("ledgerlink@example.com", ADMINS)
    assert msg["Subject"] == "[Ledgerlink] Acme: 2 failed request(s) - CustomerRef is required"
    body = msg.get_content()
    assert "2 request(s) of Acme (realm 9130) failed with: CustomerRef is required" in body
    assert "(error kind customer_ref_required; 2 new since the last digest)." in body
    assert f"  - request #{first.pk}, order A-1 <a-1@example.com>: Required param missing" in body
    assert "order A-2 <a-2@example.com>" in body
    assert "A-3" not in body
    assert (
        f"https://ll.example.com/requests/completed/?outcome=failed&error_kind=customer_ref_required&company={acme.pk}"
        in body
    )

    # Nothing new: nothing sent, however often the worker asks.
    assert send_digests() == []
    assert send_digests() == []
    assert len(smtp_server.messages) == 1

    # One more failure of the same kind: exactly one more email.
    make_request(acme, S.FAILED, source=source, number="A-4", error_kind="customer_ref_required")
    assert len(send_digests()) == 1
    assert subjects(smtp_server)[1] == "[Ledgerlink] Acme: 3 failed request(s) - CustomerRef is required"
    assert "(error kind customer_ref_required; 1 new since the last digest)." in smtp_server.messages[1][2].get_content()
    # The first few orders only (LEDGERLINK_DIGEST_ORDERS = 2).
    assert "A-4" not in smtp_server.messages[1][2].get_content()
    assert send_digests() == []
    assert len(smtp_server.messages) == 2
    assert DigestState.objects.get(company=acme, key="failed:customer_ref_required").last_count == 3


@pytest.mark.django_db
def test_kinds_and_companies_are_counted_apart(smtp_server, admins):  # noqa: F811
    acme, bolt = make_company("Acme", "1"), make_company("Bolt", "2")
    make_request(acme, S.FAILED, error_kind="customer_ref_required")
    make_request(acme, S.FAILED, error_kind="invalid_email")
    make_request(bolt, S.FAILED, error_kind="invalid_email")
    make_request(bolt, S.RETRYING, error_kind="throttled")  # still retrying: no digest
    send_digests()
    assert sorted(subjects(smtp_server)) == [
        "[Ledgerlink] Acme: 1 failed request(s) - CustomerRef is required",
        "[Ledgerlink] Acme: 1 failed request(s) - Invalid Email Address format",
        "[Ledgerlink] Bolt: 1 failed request(s) - Invalid Email Address format",
    ]
    make_request(bolt, S.FAILED, error_kind="invalid_email")
    send_digests()
    assert subjects(smtp_server)[3:] == ["[Ledgerlink] Bolt: 2 failed request(s) - Invalid Email Address format"]


@pytest.mark.django_db
def test_a_drop_rearms_and_the_next_growth_emails_again(smtp_server, admins):  # noqa: F811
    acme = make_company()
    a = make_request(acme, S.FAILED, error_kind="invalid_email")
    make_request(acme, S.FAILED, error_kind="invalid_email")
    send_digests()
    assert len(smtp_server.messages) == 1
    PushRequest.objects.filter(pk=a.pk).update(state=S.QUEUED, error_kind="")  # fixed and re-queued
    assert send_digests() == []
    assert DigestState.objects.get(company=acme, key="failed:invalid_email").last_count == 1
    PushRequest.objects.filter(pk=a.pk).update(state=S.FAILED, error_kind="invalid_email")  # failed again
    assert len(send_digests()) == 1
    assert subjects(smtp_server)[1] == "[Ledgerlink] Acme: 2 failed request(s) - Invalid Email Address format"


@pytest.mark.django_db
def test_threshold_holds_back_until_reached(smtp_server, admins, settings):  # noqa: F811
    settings.LEDGERLINK_DIGEST_MIN_FAILURES = 3
    acme = make_company()
    for _ in range(2):
        make_request(acme, S.FAILED, error_kind="stale_object")
    assert send_digests() == []
    make_request(acme, S.FAILED, error_kind="stale_object")
    assert len(send_digests()) == 1
    assert "3 new since the last digest" in smtp_server.messages[0][2].get_content()


@pytest.mark.django_db
def test_needs_reconnect_emails_once_per_time_it_happens(smtp_server, admins):  # noqa: F811
    acme = make_company("Acme", status=Company.Status.NEEDS_RECONNECT, last_error="invalid_grant")
    make_request(acme, S.QUEUED)
    assert [d.key for d in send_digests()] == ["reconnect"]
    assert subjects(smtp_server) == ["[Ledgerlink] Acme: QuickBooks connection needs reconnecting"]
    body = smtp_server.messages[0][2].get_content()
    assert "Last error: invalid_grant" in body and "Requests waiting: 1" in body
    assert send_digests() == []
    Company.objects.filter(pk=acme.pk).update(status=Company.Status.ACTIVE)  # reconnected
    assert send_digests() == []
    Company.objects.filter(pk=acme.pk).update(status=Company.Status.NEEDS_RECONNECT)
    assert [d.key for d in send_digests()] == ["reconnect"]
    assert len(smtp_server.messages) == 2


@pytest.mark.django_db
def test_oldest_pending_past_the_threshold_emails_once(smtp_server, admins):  # noqa: F811
    acme = make_company("Acme")
    now = timezone.now()
    make_request(acme, S.QUEUED, created_at=now - dt.timedelta(minutes=59))
    assert send_digests() == []
    old = make_request(acme, S.RETRYING, created_at=now - dt.timedelta(hours=2, minutes=5), attempt_count=4)
    assert [d.key for d in send_digests()] == ["oldest_pending"]
    assert subjects(smtp_server) == ["[Ledgerlink] Acme: oldest pending request is 2 h 5 min old"]
    assert f"request #{old.pk} (retrying, attempt 4)" in smtp_server.messages[0][2].get_content()
    assert send_digests() == []
    PushRequest.objects.filter(pk=old.pk).update(state=S.SUCCEEDED)
    assert send_digests() == []  # back under the threshold: re-armed silently
    assert DigestState.objects.get(company=acme, key="oldest_pending").last_count == 0


@pytest.mark.django_db
def test_no_admin_address_sends_and_remembers_nothing(smtp_server, settings):  # noqa: F811
    settings.LEDGERLINK_ADMIN_EMAILS = []
    acme = make_company()
    make_request(acme, S.FAILED, error_kind="invalid_email")
    assert send_digests() == []
    assert smtp_server.messages == []
    assert DigestState.objects.count() == 0
    settings.LEDGERLINK_ADMIN_EMAILS = ["ops@example.com"]
    assert len(send_digests()) == 1


@pytest.mark.django_db
def test_smtp_failure_sends_later_and_still_exactly_once(smtp_server, admins, settings):  # noqa: F811
    acme = make_company()
    make_request(acme, S.FAILED, error_kind="invalid_email")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings.EMAIL_PORT = closed_port
    with pytest.raises(OSError):
        send_digests()
    assert DigestState.objects.get(company=acme, key="failed:invalid_email").last_count == 0
    settings.EMAIL_PORT = smtp_server.port
    assert len(send_digests()) == 1
    assert send_digests() == []
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_send_digests_command(smtp_server, admins, capsys):  # noqa: F811
    acme = make_company("Acme")
    make_request(acme, S.FAILED, error_kind="invalid_email")
    call_command("send_digests", "--dry-run")
    out = capsys.readouterr().out
    assert out.startswith("would send 1 digest(s)\n")
    assert f"company {acme.pk} [failed:invalid_email]: Acme: 1 failed request(s) - Invalid Email Address format" in out
    assert smtp_server.messages == []
    call_command("send_digests")
    assert capsys.readouterr().out.startswith("sent 1 digest(s)\n")
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db
def test_maybe_send_digests_runs_at_most_once_per_interval_and_never_raises(smtp_server, admins, settings,  # noqa: F811
                                                                            monkeypatch):
    from ledgerlink.ops import digests

    monkeypatch.setattr(digests, "_last_run", 0.0)
    acme = make_company()
    make_request(acme, S.FAILED, error_kind="invalid_email")
    assert len(digests.maybe_send_digests(every=3600)) == 1
    make_request(acme, S.FAILED, error_kind="invalid_email")
    assert digests.maybe_send_digests(every=3600) == []  # too soon: not even looked at
    assert len(smtp_server.messages) == 1
    assert len(digests.maybe_send_digests(every=0)) == 1
    # SMTP unreachable: logged, not raised; the growth is still owed and sent on a later turn.
    make_request(acme, S.FAILED, error_kind="invalid_email")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = s.getsockname()[1]
    assert digests.maybe_send_digests(every=0) == []
    settings.EMAIL_PORT = smtp_server.port
    assert [d.count for d in digests.maybe_send_digests(every=0)] == [3]
    assert len(smtp_server.messages) == 3


@pytest.mark.django_db
def test_a_limited_users_address_gets_only_their_companies_digests(smtp_server, admins, settings):  # noqa: F811
    """Access per company (issue 18): owner@example.com is a user limited to Acme."""
    acme, bolt = make_company("Acme", "1"), make_company("Bolt", "2")
    owner = get_user_model().objects.create_user("owner", "Owner@Example.com", "a-long-passphrase-77")
    set_user_companies(owner.pk, [acme.pk])
    make_request(acme, S.FAILED, error_kind="invalid_email")
    make_request(bolt, S.FAILED, error_kind="invalid_email")
    send_digests()
    sent = sorted((msg["Subject"], tuple(sorted(rcpts))) for _f, rcpts, msg in smtp_server.messages)
    assert sent == [
        ("[Ledgerlink] Acme: 1 failed request(s) - Invalid Email Address format",
         ("ops@example.com", "owner@example.com")),
        ("[Ledgerlink] Bolt: 1 failed request(s) - Invalid Email Address format", ("ops@example.com",)),
    ]
    # limited to no company and the only recipient: nothing is sent, the state is still remembered
    set_user_companies(owner.pk, [])
    make_request(bolt, S.FAILED, error_kind="invalid_email")
    settings.LEDGERLINK_ADMIN_EMAILS = ["owner@example.com"]
    send_digests()
    assert len(smtp_server.messages) == 2
    assert DigestState.objects.get(company=bolt, key="failed:invalid_email").last_count == 2
