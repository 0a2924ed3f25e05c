"""Matching orders to the mirror: a customer by email, an item by SKU.

Emails are trimmed and case-folded (``normalize_email``); a field holding several addresses separated
by ``,`` or ``;`` yields each. Only active records match.
"""

from __future__ import annotations

import re

from ledgerlink.core.models import Company, Customer, CustomerEmail, Item

_SPLIT = re.compile(r"[,;]")


def normalize_email(value: str | None) -> str:
    return (value or "").strip().casefold()


def split_emails(value: str | None) -> list[str]:
    """Normalised, de-duplicated addresses of one email field (order kept)."""
    out: list[str] = []
    for part in _SPLIT.split(value or ""):
        email = normalize_email(part)
        if email and email not in out:
            out.append(email)
    return out


def match_customer_by_email(company: Company | int, email: str | None) -> Customer | None:
    """The active Customer with this email (normalised), most recently updated in QBO first."""
    norm = normalize_email(email)
    if not norm:
        return None
    company_id = company.pk if isinstance(company, Company) else company
    row = (
        CustomerEmail.objects.filter(company_id=company_id, email=norm, customer__active=True)
        .select_related("customer")
        .order_by("-customer__qbo_updated_at", "-customer__id")
        .first()
    )
    return row.customer if row else None




def find_item_for_sku(company: Company, sku: str) -> Item | None:
    """Active item whose Sku is ``sku``, else whose Name is ``sku``."""
    sku = (sku or "").strip()
    if not sku:
        return None
    items = Item.objects.filter(company=company, active=True)
    return items.filter(sku=sku).order_by("id").first() or items.filter(name=sku).order_by("id").first()
