"""The audit log is append-only in the database: triggers make UPDATE and DELETE of core_auditlog
fail on SQLite and PostgreSQL (``ledgerlink.core.audit_triggers``)."""

from django.db import migrations

from ledgerlink.core import audit_triggers


def install(apps, schema_editor):
    audit_triggers.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    audit_triggers.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_push_request_list_indexes"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
