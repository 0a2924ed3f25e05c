"""Secrets at rest: OAuth tokens only as ciphertext, API tokens only as hashes, read from raw rows;
the audit log cannot be changed through the ORM."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection, transaction
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.models import ApiToken, AuditLog, Company
from ledgerlink.domain.accounts.tokens import authenticate_token, create_api_token, revoke_api_token
from ledgerlink.domain.companies.tokens import access_token_for
from tests.ledgerlink.factories import make_user


def raw_rows(table: str, where: str = "", params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} {where}", params)
        return cursor.fetchall()


def text_of(value) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


def tables_containing(secret: str) -> list[str]:
    """Every table with a column value that contains ``secret``, read with raw SQL."""
    found = []
    for table in connection.introspection.table_names():
        for row in raw_rows(table):
            if any(secret in text_of(value) for value in row):
                found.append(table)
                break
    return found


@pytest.mark.django_db
def test_oauth_tokens_are_encrypted_at_rest(company):
    # ``company`` is connected through connect_company (the real OAuth code flow) to qbo_sandbox.
    access, _ = access_token_for(company.pk)
    refresh = crypto.decrypt(Company.objects.get(pk=company.pk).refresh_token_enc)
    assert len(access) >= 20 and len(refresh) >= 20 and access != refresh

    (row,) = raw_rows("core_company", "WHERE id = %s", [company.pk])
    columns = [c.name for c in connection.introspection.get_table_description(connection.cursor(), "core_company")]
    stored = dict(zip(columns, row, strict=True))
    for value in stored.values():
        assert access not in text_of(value)
        assert refresh not in text_of(value)
    # What is stored is a Fernet token (version byte 0x80, base64 "gAAAAA") that decrypts to the secret.
    assert stored["access_token_enc"].startswith("gAAAAA")
    assert stored["refresh_token_enc"].startswith("gAAAAA")
    assert crypto.decrypt(stored["access_token_enc"]) == access
    assert crypto.decrypt(stored["refresh_token_enc"]) == refresh
    # Nowhere else either: not in the audit log of the connection, not in any other table.
    assert AuditLog.objects.filter(action="company.connected", object_id=str(company.pk)).count() == 1
    assert tables_containing(access) == []
    assert tables_containing(refresh) == []
    assert tables_containing(stored["refresh_token_enc"]) == ["core_company"]  # the scan does find things

    # A refresh stores the new tokens encrypted too.
    new_access, _ = access_token_for(company.pk, force=True)
    assert new_access != access
    assert tables_containing(new_access) == []
    assert AuditLog.objects.filter(action="company.tokens_refreshed", object_id=str(company.pk)).count() == 1


@pytest.mark.django_db
def test_tampered_ciphertext_is_refused():
    token = crypto.encrypt("the-access-token")
    tampered = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    from cryptography.fernet import InvalidToken

    with pytest.raises(InvalidToken):
        crypto.decrypt(tampered)


@pytest.mark.django_db
def test_api_tokens_are_stored_hashed():
    user = make_user("ann", "operator")
    raw = create_api_token(user, "orders feed")
    assert raw.startswith("llk_") and len(raw) >= 40

    (row,) = raw_rows("core_apitoken")
    assert not any(raw in text_of(value) for value in row)
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:12]
    assert tables_containing(raw) == []
    assert tables_containing(raw[12:]) == []
    assert tables_containing(token.token_hash) == ["core_apitoken"]

    assert authenticate_token(raw) == user
    assert authenticate_token(raw + "x") is None
    assert authenticate_token(token.token_hash) is None  # the stored hash is not itself a credential
    revoke_api_token(token.pk, actor_label="admin")
    assert authenticate_token(raw) is None
    user.is_active = False
    user.save()
    assert authenticate_token(create_api_token(user, "second")) is None
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "api_token.create",
        "api_token.revoke",
        "api_token.create",
    ]


@pytest.mark.django_db
def test_audit_log_is_append_only():
    entry = AuditLog.objects.create(action="push_request.requeue", actor_label="ann", data={"note": "x"})
    entry.data = {"note": "rewritten"}
    with pytest.raises(PermissionError, match="append-only"):
        entry.save()
    with pytest.raises(PermissionError, match="append-only"):
        entry.delete()
    with pytest.raises(PermissionError, match="append-only"):
        AuditLog.objects.filter(pk=entry.pk).update(actor_label="mallory")
    with pytest.raises(PermissionError, match="append-only"):
        AuditLog.objects.all().delete()
    with pytest.raises(PermissionError, match="append-only"):
        AuditLog.objects.update(action="nothing")
    entry.actor_label = "mallory"
    with pytest.raises(PermissionError, match="append-only"), transaction.atomic():
        AuditLog.objects.bulk_update([entry], ["actor_label"])
    stored = raw_rows("core_auditlog")
    assert len(stored) == 1
    fresh = AuditLog.objects.get()
    assert (fresh.action, fresh.actor_label, fresh.data) == ("push_request.requeue", "ann", {"note": "x"})


@pytest.mark.django_db
def test_audit_rows_outlive_their_actor():
    """Deleting a user keeps what they did; the row still names them."""
    user = make_user("bob", "operator")
    AuditLog.objects.create(action="company.status_changed", actor=user, actor_label="bob", at=timezone.now())
    user.delete()
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor_id, entry.actor_label) == ("company.status_changed", None, "bob")
