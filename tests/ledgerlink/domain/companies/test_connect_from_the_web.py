"""Connect from the web app (state bound to the session, single use), reconnect keeps settings,
disconnect revokes. Against qbo_sandbox over HTTP."""

from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from django.conf import settings

from ledgerlink.core import crypto
from ledgerlink.core.models import AuditLog, Company, SiteArea
from ledgerlink.domain.companies.connect import SESSION_KEY, disconnect_company, finish_connect, start_connect
from ledgerlink.domain.errors import ServiceError
from ledgerlink.quickbooks import oauth

pytestmark = pytest.mark.django_db


def _consent(authorize_url: str, realm_id: str | None = None) -> dict:
    """What a person's browser does at Intuit: consent, then follow the redirect back."""
    url = authorize_url + (f"&realm_id={realm_id}" if realm_id else "")
    r = httpx.get(url, follow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    location = urlparse(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == settings.QBO_REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def test_connect_callback_and_reconnect_keep_the_company_and_its_settings(sandbox, qbo):
    realm = qbo.create_realm()["realm_id"]
    session: dict = {}
    url = start_connect(session, target="qbo_sandbox", base_url=sandbox.base_url + "/", name="Web Co")
    assert url.startswith(f"{sandbox.base_url}/connect/oauth2?")
    query = parse_qs(urlparse(url).query)
    assert query["state"] == [session[SESSION_KEY]["state"]]
    assert query["redirect_uri"] == [settings.QBO_REDIRECT_URI]
    back = _consent(url, realm)
    assert back["realmId"] == realm
    company = finish_connect(session, state=back["state"], code=back["code"], realm_id=back["realmId"])
    assert (company.name, company.realm_id, company.api_base_url, company.status) == (
        "Web Co", realm, sandbox.base_url, "active"
    )
    assert SESSION_KEY not in session
    assert company.access_token_enc and crypto.decrypt(company.access_token_enc) not in company.access_token_enc
    area = SiteArea.objects.create(company=company, name="Wholesale", push_method="invoice", default_item="1")

    company.status = Company.Status.NEEDS_RECONNECT
    company.save()
    session = {}
    back = _consent(start_connect(session, target="qbo_sandbox", base_url=sandbox.base_url, name="Renamed"), realm)
    again = finish_connect(session, state=back["state"], code=back["code"], realm_id=back["realmId"])
    assert again.pk == company.pk
    assert (again.name, again.status) == ("Web Co", "active")
    assert list(again.site_areas.values_list("pk", flat=True)) == [area.pk]
    assert list(AuditLog.objects.filter(object_id=str(company.pk)).order_by("id").values_list("action", flat=True)) == [
        "company.connected", "company.reconnected"
    ]


def test_state_mismatch_or_replay_is_refused_and_stores_nothing(sandbox, qbo):
    realm = qbo.create_realm()["realm_id"]
    session: dict = {}
    back = _consent(start_connect(session, target="qbo_sandbox", base_url=sandbox.base_url, name="X"), realm)
    forged = dict(session)
    with pytest.raises(ServiceError) as err:
        finish_connect(forged, state="attacker-state", code=back["code"], realm_id=realm)
    assert (err.value.status, err.value.field) == (400, "state")
    assert "state mismatch" in err.value.message
    # The session's attempt is consumed even by a failed check: the real state cannot be replayed.
    with pytest.raises(ServiceError):
        finish_connect(forged, state=back["state"], code=back["code"], realm_id=realm)
    with pytest.raises(ServiceError):
        finish_connect({}, state=back["state"], code=back["code"], realm_id=realm)
    assert Company.objects.count() == 0


def test_bad_input_names_the_field():
    with pytest.raises(ServiceError) as err:
        start_connect({}, target="qbo_sandbox", base_url="ftp://nope", name="X")
    assert err.value.field == "base_url"
    with pytest.raises(ServiceError) as err:
        start_connect({}, target="elsewhere", name="X")
    assert err.value.field == "target"
    with pytest.raises(ServiceError) as err:
        start_connect({}, target="qbo_sandbox", base_url="http://127.0.0.1:9", name=" ")
    assert err.value.field == "name"


def test_disconnect_revokes_the_tokens(company):
    refresh_token = crypto.decrypt(company.refresh_token_enc)
    done = disconnect_company(company.pk)
    assert (done.status, done.access_token_enc, done.refresh_token_enc) == ("disconnected", "", "")
    with pytest.raises(oauth.OAuthError) as err:
        oauth.refresh(company.token_endpoint, refresh_token=refresh_token,
                      client_id=settings.QBO_CLIENT_ID, client_secret=settings.QBO_CLIENT_SECRET)
    assert "invalid_grant" in str(err.value)
    assert AuditLog.objects.filter(action="company.disconnected", data__revoked=True).count() == 1


def _admin_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from ledgerlink.core.models import UserProfile

    user = get_user_model().objects.create_user("conn-admin", password="pw-12345678")
    UserProfile.objects.create(user=user, role="admin")
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_web_connect_button_round_trip_and_disconnect(sandbox, qbo):
    realm = qbo.create_realm()["realm_id"]
    client = _admin_client()
    page = client.get("/connections/new")
    assert page.status_code == 200
    assert b'<label for="id_base_url">' in page.content
    bad = client.post("/connections/new", {"target": "qbo_sandbox", "base_url": "nope", "name": "W"})
    assert bad.status_code == 422
    assert b"Enter the qbo_sandbox base URL" in bad.content
    go = client.post("/connections/new", {"target": "qbo_sandbox", "base_url": sandbox.base_url, "name": "Web"})
    assert go.status_code == 302
    assert go["Location"].startswith(f"{sandbox.base_url}/connect/oauth2?")
    back = _consent(go["Location"], realm)
    done = client.get("/connections/callback", back)
    assert (done.status_code, done["Location"]) == (302, "/connections/")
    company = Company.objects.get(realm_id=realm)
    assert company.status == "active"
    listing = client.get("/connections/")
    assert b"Connect to QuickBooks" in listing.content
    assert f"/connections/{company.pk}/disconnect".encode() in listing.content
    # A replayed callback (same state) is refused and changes nothing.
    replay = client.get("/connections/callback", back, follow=True)
    assert b"state mismatch" in replay.content
    assert client.post(f"/connections/{company.pk}/disconnect").status_code == 302
    company.refresh_from_db()
    assert company.status == "disconnected"


def test_sandbox_target_is_off_in_production_unless_allowed(settings):
    settings.PRODUCTION = True
    with pytest.raises(ServiceError) as err:
        start_connect({}, target="qbo_sandbox", base_url="http://169.254.169.254", name="X")
    assert err.value.field == "target"
    assert "LEDGERLINK_ALLOW_SANDBOX_CONNECT" in err.value.message


def test_refresh_button_writes_one_audit_row_by_the_admin(company):
    """Regression: the Connections page's "Refresh tokens" audited the refresh a second time after
    the service had (two rows per click, and /metrics counted two refreshes)."""
    from ledgerlink.ops import stats

    before = crypto.decrypt(company.access_token_enc)
    client = _admin_client()
    resp = client.post(f"/connections/{company.pk}/refresh")
    assert (resp.status_code, resp["Location"]) == (302, "/connections/")
    rows = list(AuditLog.objects.filter(action="company.tokens_refreshed", object_id=str(company.pk)))
    assert [(r.actor.username, r.actor_label, r.data) for r in rows] == [("conn-admin", "conn-admin", {"forced": True})]
    assert stats.token_refresh_counts() == {company.pk: 1}
    company.refresh_from_db()
    assert crypto.decrypt(company.access_token_enc) != before
