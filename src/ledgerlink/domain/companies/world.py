"""A Company's tax world, read from QBO at connect and at every full sync (docs/tax.md):
``CompanyInfo.Country`` and ``Preferences`` ``TaxPrefs`` / ``CurrencyPrefs`` give its country, its
tax model (``ast`` | ``legacy`` | ``global`` | ``none``), home currency and multicurrency.

* ``TaxPrefs.UsingSalesTax`` false: ``none``;
* a non-US company: ``global`` (a tax code on every line);
* US with ``TaxPrefs.PartnerTaxEnabled`` true: ``ast`` (automated sales tax); absent or false: ``legacy``
  (a converted company answered it blank, tcl §1.1).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.quickbooks.client import QBOClient

log = logging.getLogger(__name__)

WORLD_FIELDS = ("country", "tax_model", "home_currency", "multicurrency", "default_tax_code")


def tax_world_from(company_info: dict, preferences: dict) -> dict:
    """The Company fields for QBO's CompanyInfo and Preferences bodies."""
    country = str(company_info.get("Country") or "").strip().upper()
    country = {"USA": "US", "UNITED STATES": "US", "CANADA": "CA", "UK": "GB", "AUSTRALIA": "AU"}.get(country, country)
    tax = preferences.get("TaxPrefs") or {}
    currency = preferences.get("CurrencyPrefs") or {}
    if tax.get("UsingSalesTax") in (False, "false"):
        model = Company.TaxModel.NONE
    elif country and country != "US":
        model = Company.TaxModel.GLOBAL
    elif tax.get("PartnerTaxEnabled") in (True, "true"):
        model = Company.TaxModel.AST
    else:
        model = Company.TaxModel.LEGACY
    return {
        "country": country[:2],
        "tax_model": model,
        "home_currency": str((currency.get("HomeCurrency") or {}).get("value") or "").upper()[:3],
        "multicurrency": currency.get("MultiCurrencyEnabled") in (True, "true"),
        "default_tax_code": str((tax.get("TaxGroupCodeRef") or {}).get("value") or "")[:32],
    }


def read_company_world(company: Company, *, client: QBOClient | None = None) -> dict:
    """Read the Company's country, tax model and currencies from QBO and store them (audited when
    they change after the first read, which belongs to the connect). Returns the fields; QBO faults
    raise ``QBOError``."""
    own = client is None
    client = client or client_for(company)
    try:
        info = client.request("GET", f"companyinfo/{company.realm_id}").raise_for_fault()
        prefs = client.request("GET", "preferences").raise_for_fault()
    finally:
        if own:
            client.close()
    fields = tax_world_from((info.data or {}).get("CompanyInfo") or {}, (prefs.data or {}).get("Preferences") or {})
    with transaction.atomic():
        locked = Company.objects.select_for_update().get(pk=company.pk)
        first = locked.tax_world_read_at is None
        changed = {k: v for k, v in fields.items() if getattr(locked, k) != v}
        for key, value in fields.items():
            setattr(locked, key, value)
            setattr(company, key, value)
        locked.tax_world_read_at = company.tax_world_read_at = timezone.now()
        locked.save(update_fields=[*WORLD_FIELDS, "tax_world_read_at", "updated_at"])
        if changed and not first:
            record_audit("company.tax_world", obj=locked, **{k: str(v) for k, v in changed.items()})
    return fields


def try_read_company_world(company: Company) -> bool:
    """``read_company_world`` at connect: a failure is logged, never a failed connect (the next sync
    reads it again)."""
    try:
        read_company_world(company)
    except Exception:  # noqa: BLE001 - the connection stands; the world is read at the next sync
        log.warning("could not read the tax world of company %s", company.pk, exc_info=True)
        return False
    return True
