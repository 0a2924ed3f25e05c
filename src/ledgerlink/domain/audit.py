from __future__ import annotations

from typing import Any

from django.db import models

from ledgerlink.core.models import AuditLog


def actor_label_for(user) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "system"
    return user.get_username()


def record_audit(
    action: str,
    *,
    actor=None,
    actor_label: str | None = None,
    obj: models.Model | None = None,
    **data: Any,
) -> AuditLog:
    """Append one audit row. Call inside the service's transaction."""
    row = audit_row(action, actor=actor, actor_label=actor_label, obj=obj, **data)
    row.save()
    return row


def audit_row(
    action: str,
    *,
    actor=None,
    actor_label: str | None = None,
    obj: models.Model | None = None,
    **data: Any,
) -> AuditLog:
    """The row ``record_audit`` appends, not written yet (``obj`` already has its id): a batch writes
    its rows with one ``AuditLog.objects.bulk_create`` inside its transaction."""
    return AuditLog(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=actor_label or actor_label_for(actor),
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )
