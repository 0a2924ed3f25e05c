"""Ledgerlink's data model (Django app label "core"), one module per concern. Vocabulary as in DESIGN.md.

Write paths go through the verb-named services in ``ledgerlink.domain``; nothing here holds business
logic beyond small derived properties, and nothing here imports a service (an import-linter contract).
Every model is importable from here: ``from ledgerlink.core.models import PushRequest``.
"""

from ledgerlink.core.models.accounts import ApiToken, UserProfile
from ledgerlink.core.models.audit import AuditLog, AuditLogQuerySet
from ledgerlink.core.models.companies import Company
from ledgerlink.core.models.lifecycle import OrderPayment, OrderRefund, OrderVersion, PaymentMethod
from ledgerlink.core.models.mirror import Customer, CustomerEmail, Item, SyncRequest, SyncState, WebhookEvent
from ledgerlink.core.models.orders import AutomationRule, Order, OrderLine, OrderRuleLog
from ledgerlink.core.models.outbox import Attempt, PushRequest, PushRevision, WorkerHeartbeat
from ledgerlink.core.models.routing import OrderSource, SiteArea
from ledgerlink.core.models.stores import StoreDelivery, StoreOrderSnapshot
from ledgerlink.core.models.tax import TaxCode

__all__ = [
    "ApiToken",
    "Attempt",
    "AuditLog",
    "AuditLogQuerySet",
    "AutomationRule",
    "Company",
    "Customer",
    "CustomerEmail",
    "Item",
    "Order",
    "OrderLine",
    "OrderPayment",
    "OrderRefund",
    "OrderRuleLog",
    "OrderSource",
    "OrderVersion",
    "PaymentMethod",
    "PushRequest",
    "PushRevision",
    "SiteArea",
    "SyncRequest",
    "StoreDelivery",
    "StoreOrderSnapshot",
    "SyncState",
    "TaxCode",
    "UserProfile",
    "WebhookEvent",
    "WorkerHeartbeat",
]
