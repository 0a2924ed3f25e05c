"""Site areas: the Company and push method of a group of order sources, their customer and item
policies and default items. The API and the admin area's Set-up page both write through these."""

from __future__ import annotations

from django.db import transaction

from ledgerlink.core.models import Company, SiteArea
from ledgerlink.core.roles import can_see_company
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import clean_text

SITE_AREA_FIELDS = (
    "name", "company", "push_method", "customer_policy", "item_policy", "default_item", "shipping_item",
    "discount_item", "default_customer", "income_account", "deposit_account", "refund_account",
)


def _clean_site_area(changes: dict, *, creating: bool, actor=None) -> dict:
    unknown = set(changes) - set(SITE_AREA_FIELDS)
    if unknown:
        raise ServiceError("is not a site area field", field=sorted(unknown)[0])
    clean = {}
    if "name" in changes or creating:
        clean["name"] = clean_text(changes, "name", required=True, max_len=200)
    if "company" in changes or creating:
        value = changes.get("company")
        company = Company.objects.filter(pk=value).first() if isinstance(value, int) and not isinstance(value, bool) else None
        if company is None or not can_see_company(actor, company.pk):
            raise ServiceError(f"no company {value!r}", field="company")
        clean["company"] = company
    for key, choices in (
        ("push_method", SiteArea.PushMethod.values),
        ("customer_policy", SiteArea.CustomerPolicy.values),
        ("item_policy", SiteArea.ItemPolicy.values),
    ):
        if key in changes and changes[key] is not None:
            if changes[key] not in choices:
                raise ServiceError(f"must be one of {', '.join(choices)}", field=key)
            clean[key] = changes[key]
    for key in ("default_item", "shipping_item", "discount_item", "default_customer", "income_account",
                "deposit_account", "refund_account"):
        if key in changes:
            clean[key] = clean_text(changes, key, max_len=32)
    return clean


def create_site_area(*, actor=None, actor_label: str | None = None, **fields) -> SiteArea:
    clean = _clean_site_area(fields, creating=True, actor=actor)
    with transaction.atomic():
        if SiteArea.objects.filter(company=clean["company"], name=clean["name"]).exists():
            raise ServiceError("a site area with this name exists for this company", field="name", status=409)
        site_area = SiteArea.objects.create(**clean)
        record_audit("site_area.create", actor=actor, actor_label=actor_label, obj=site_area,
                     **{k: (v.pk if k == "company" else v) for k, v in clean.items()})
    return site_area


def update_site_area(site_area_id: int, *, actor=None, actor_label: str | None = None, **changes) -> SiteArea:
    clean = _clean_site_area(changes, creating=False, actor=actor)
    with transaction.atomic():
        site_area = SiteArea.objects.select_for_update().filter(pk=site_area_id).first()
        if site_area is None or not can_see_company(actor, site_area.company_id):
            raise ServiceError(f"site area {site_area_id} does not exist", field="id", status=404)
        company = clean.get("company", site_area.company)
        name = clean.get("name", site_area.name)
        if SiteArea.objects.filter(company=company, name=name).exclude(pk=site_area.pk).exists():
            raise ServiceError("a site area with this name exists for this company", field="name", status=409)
        before = {key: getattr(site_area, key + ("_id" if key == "company" else "")) for key in clean}
        for key, value in clean.items():
            setattr(site_area, key, value)
        site_area.save()
        record_audit("site_area.update", actor=actor, actor_label=actor_label, obj=site_area, before=before,
                     after={k: (v.pk if k == "company" else v) for k, v in clean.items()})
    return site_area


