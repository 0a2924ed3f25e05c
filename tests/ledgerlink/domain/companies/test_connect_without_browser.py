"""Connecting a Company: OAuth code flow without a browser, tokens encrypted, the connect command."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from django.core.management import CommandError, call_command

from ledgerlink.cli import command_argv
from ledgerlink.core import crypto
from ledgerlink.core.models import AuditLog, Company
from ledgerlink.domain.companies.connect import connect_company
from ledgerlink.quickbooks import oauth


def test_connect_command_prints_only_the_company_json(db, qbo):
    realm = qbo.create_realm()
    out, err = io.StringIO(), io.StringIO()
    call_command("connect", "--base-url", qbo.base_url, "--realm-id", realm["realm_id"], "--name", "Acme Books",
                 stdout=out, stderr=err)
    company = Company.objects.get()
    assert json.loads(out.getvalue()) == {"id": company.pk, "realm_id": realm["realm_id"]}
    assert out.getvalue().strip() == json.dumps({"id": company.pk, "realm_id": realm["realm_id"]})
    assert (company.name, company.status, company.api_base_url) == ("Acme Books", "active", qbo.base_url)
    assert company.token_endpoint == qbo.base_url + "/oauth2/v1/tokens/bearer"
    assert company.discovery_url == qbo.base_url + "/.well-known/openid-configuration"
    # Encrypted at rest, and the plaintext is a token QBO accepts.
    access, refresh = crypto.decrypt(company.access_token_enc), crypto.decrypt(company.refresh_token_enc)
    assert access not in company.access_token_enc and refresh not in company.refresh_token_enc
    r = httpx.get(f"{qbo.base_url}/v3/company/{realm['realm_id']}/companyinfo/{realm['realm_id']}",
                  headers={"Authorization": f"Bearer {access}", "Accept": "application/json"})
    assert r.status_code == 200
    assert company.refresh_token_expires_at is not None and company.access_token_expires_at is not None
    audit = AuditLog.objects.get(action="company.connected")
    assert audit.data["realm_id"] == realm["realm_id"]
    assert access not in json.dumps(audit.data) and refresh not in json.dumps(audit.data)


def test_connect_without_realm_id_gets_a_new_realm(db, qbo):
    company = connect_company(qbo.base_url, name="New")
    assert company.realm_id
    assert qbo.http.get(f"/_sandbox/realms/{company.realm_id}").status_code == 200


def test_reconnect_same_realm_updates_the_company(db, qbo):
    first = connect_company(qbo.base_url, name="Acme", realm_id=qbo.create_realm()["realm_id"])
    Company.objects.filter(pk=first.pk).update(status="needs_reconnect")
    again = connect_company(qbo.base_url, name="Acme Renamed", realm_id=first.realm_id)
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.name, again.status, Company.objects.count()) == ("Acme Renamed", "active", 1)
    assert AuditLog.objects.filter(action="company.reconnected").count() == 1


def test_connect_to_nothing_is_a_clear_command_error(db):
    with pytest.raises(CommandError, match="Could not reach http://127.0.0.1:9"):
        call_command("connect", "--base-url", "http://127.0.0.1:9", "--name", "X", stdout=io.StringIO())
    assert not Company.objects.exists()


def test_authorize_without_browser_reads_the_redirect(qbo):
    disc = oauth.discover(qbo.base_url)
    realm_id = qbo.create_realm()["realm_id"]
    code, got = oauth.authorize_without_browser(disc.authorization_endpoint, client_id="c",
                                                redirect_uri="http://127.0.0.1/cb", realm_id=realm_id)
    assert got == realm_id and code.startswith("AB11")
    with pytest.raises(oauth.OAuthError) as exc:  # a code is good once
        for _ in range(2):
            oauth.exchange_code(disc.token_endpoint, code=code, redirect_uri="http://127.0.0.1/cb",
                                client_id="c", client_secret="s")
    assert exc.value.error == "invalid_grant"


def test_rotate_keys_reencrypts_under_the_newest_key(db, qbo, settings):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.LEDGERLINK_ENCRYPTION_KEYS = [old]
    company = connect_company(qbo.base_url, name="Keys", realm_id=qbo.create_realm()["realm_id"])
    access = crypto.decrypt(company.access_token_enc)
    settings.LEDGERLINK_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command(*command_argv(["rotate-keys"]), stdout=out)  # as `ledgerlink rotate-keys`
    assert out.getvalue().strip() == "re-encrypted the tokens of 1 companies"
    company.refresh_from_db()
    settings.LEDGERLINK_ENCRYPTION_KEYS = [new]  # the old key is gone: still readable
    assert crypto.decrypt(company.access_token_enc) == access
