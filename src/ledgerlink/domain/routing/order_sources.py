"""Order sources: the sales channels, each posting through one site area. The API and the admin
area's Set-up page both write through these; ingest finds an order's source with
``resolve_order_source``.

A source has a ``kind``: ``api`` (the REST API and the CSV import), ``shopify`` or ``woocommerce``
(orders arrive by signed webhooks at ``webhook_url``). A store source's ``webhook_secret`` is
write-only and stored encrypted (``core.crypto``, like the OAuth tokens). Setting a new secret keeps
the old one accepted for ``SECRET_OVERLAP`` (24 hours), so the store can be switched over at leisure.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.models import OrderSource, SiteArea
from ledgerlink.core.roles import can_see_company
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import check_text, clean_text, has_surrogate


def _check_value(value) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ServiceError("is required", field="order_source")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ServiceError("must be an order source id or name", field="order_source")
    check_text(value, "order_source")


def resolve_order_source(value) -> OrderSource:
    """An order source by id (int or digits) or by name."""
    _check_value(value)
    qs = OrderSource.objects.select_related("site_area__company")
    source = None
    if isinstance(value, int):
        source = qs.filter(pk=value).first()
    else:
        source = qs.filter(name=value.strip()).first()
        if source is None and value.strip().isdigit():
            source = qs.filter(pk=int(value.strip())).first()
    if source is None:
        raise ServiceError(f"no order source {value!r}", field="order_source")
    return source


_MAX_ID_DIGITS = 19


class OrderSourceIndex:
    """Order sources read once for many orders (a batch): ``resolve`` answers as
    ``resolve_order_source`` does. ``wanted(values)`` says which ids and names to read."""

    def __init__(self, sources) -> None:
        self.by_id: dict[int, OrderSource] = {}
        self.by_name: dict[str, OrderSource] = {}
        for source in sources:
            self.by_id[source.pk] = source
            self.by_name[source.name] = source

    @staticmethod
    def wanted(values) -> tuple[set[int], set[str]]:
        """(ids, names) that ``resolve`` may look for among ``values``."""
        ids: set[int] = set()
        names: set[str] = set()
        for value in values:
            if isinstance(value, bool):
                continue
            if isinstance(value, str) and has_surrogate(value):
                continue  # refused by resolve
            if isinstance(value, str) and value.strip():
                names.add(value.strip())
                value = value.strip()
                value = int(value) if value.isdigit() and len(value) <= _MAX_ID_DIGITS else None
            if isinstance(value, int) and 0 < value < 2**63:  # no id outside the column's range
                ids.add(value)
        return ids, names

    def resolve(self, value) -> OrderSource:
        _check_value(value)
        source = None
        if isinstance(value, int):
            source = self.by_id.get(value)
        else:
            source = self.by_name.get(value.strip())
            if source is None and value.strip().isdigit() and len(value.strip()) <= _MAX_ID_DIGITS:
                source = self.by_id.get(int(value.strip()))
        if source is None:
            raise ServiceError(f"no order source {value!r}", field="order_source")
        return source


def _site_area(value, actor=None) -> SiteArea:
    site_area = SiteArea.objects.filter(pk=value).first() if isinstance(value, int) and not isinstance(value, bool) else None
    if site_area is None or not can_see_company(actor, site_area.company_id):
        raise ServiceError(f"no site area {value!r}", field="site_area")
    return site_area


#: How long the previous webhook secret is still accepted after a new one is set.
SECRET_OVERLAP = timedelta(hours=24)
MAX_SECRET_LEN = 500


def _kind(value) -> str:
    if value is None or value == "":
        return OrderSource.Kind.API
    if not isinstance(value, str) or value.strip() not in OrderSource.Kind.values:
        raise ServiceError(f"must be one of {', '.join(OrderSource.Kind.values)}", field="kind")
    return value.strip()


def _store_money(value) -> str:
    if value is None or value == "":
        return OrderSource.StoreMoney.SHOP
    if not isinstance(value, str) or value.strip() not in OrderSource.StoreMoney.values:
        raise ServiceError(f"must be one of {', '.join(OrderSource.StoreMoney.values)}", field="store_money")
    return value.strip()


def _secret(value) -> str:
    if not isinstance(value, str):
        raise ServiceError("must be text", field="webhook_secret")
    if value != value.strip():
        raise ServiceError("must not begin or end with spaces (paste the secret exactly)", field="webhook_secret")
    if len(value) > MAX_SECRET_LEN:
        raise ServiceError(f"must be at most {MAX_SECRET_LEN} characters", field="webhook_secret")
    if any(ord(ch) < 32 for ch in value):
        raise ServiceError("must not contain control characters", field="webhook_secret")
    return value


def _set_secret(source: OrderSource, secret: str, now) -> bool:
    """Set ``secret`` (already checked); the current one stays accepted for SECRET_OVERLAP. True when it changed."""
    current = crypto.decrypt(source.webhook_secret_enc)
    if secret == current:
        return False
    if current and secret:
        source.previous_webhook_secret_enc = crypto.encrypt(current)
        source.previous_secret_until = now + SECRET_OVERLAP
    else:
        source.previous_webhook_secret_enc, source.previous_secret_until = "", None
    source.webhook_secret_enc = crypto.encrypt(secret)
    return True


def accepted_secrets(source: OrderSource, now=None) -> list[str]:
    """The secrets a delivery may be signed with: the current one, and the previous one until its time is up."""
    now = now or timezone.now()
    secrets = [crypto.decrypt_cached(source.webhook_secret_enc)] if source.webhook_secret_enc else []
    if source.previous_webhook_secret_enc and source.previous_secret_until and now < source.previous_secret_until:
        secrets.append(crypto.decrypt_cached(source.previous_webhook_secret_enc))
    return [secret for secret in secrets if secret]


def webhook_url(source: OrderSource) -> str | None:
    """The receiving URL to paste into the store (``LEDGERLINK_BASE_URL`` + ``/webhooks/<kind>/<id>``)."""
    path = source.webhook_path
    return f"{settings.LEDGERLINK_BASE_URL}{path}" if path else None


def _secret_state(source: OrderSource) -> dict:
    return {"kind": source.kind, "store_money": source.store_money, "has_webhook_secret": bool(source.webhook_secret_enc),
            "previous_secret_until": source.previous_secret_until.isoformat() if source.previous_secret_until else None}


def create_order_source(
    *, name: str, site_area: int, kind: str | None = None, webhook_secret: str | None = None,
    store_money: str | None = None, actor=None, actor_label: str | None = None,
) -> OrderSource:
    """A new order source. A store kind may be created without its secret (the store shows the secret
    only once its webhook, which needs the URL, exists); its deliveries answer 401 until it is set."""
    clean_name = clean_text({"name": name}, "name", required=True, max_len=200)
    area = _site_area(site_area, actor)
    clean_kind = _kind(kind)
    secret = _secret(webhook_secret) if webhook_secret else ""
    if secret and clean_kind == OrderSource.Kind.API:
        raise ServiceError("only a shopify or woocommerce source has a webhook secret", field="webhook_secret")
    with transaction.atomic():
        if OrderSource.objects.filter(name=clean_name).exists():
            raise ServiceError("an order source with this name exists", field="name", status=409)
        source = OrderSource(name=clean_name, site_area=area, kind=clean_kind, store_money=_store_money(store_money))
        _set_secret(source, secret, timezone.now())
        source.save()
        record_audit("order_source.create", actor=actor, actor_label=actor_label, obj=source, name=clean_name,
                     site_area=area.pk, **_secret_state(source))
    return source


def update_order_source(source_id: int, *, actor=None, actor_label: str | None = None, **changes) -> OrderSource:
    """Change name, site area, kind or webhook secret (a new secret: the old one is accepted for
    another SECRET_OVERLAP; an empty one removes both). Back to kind ``api``: the secrets are removed."""
    unknown = set(changes) - {"name", "site_area", "kind", "webhook_secret", "store_money"}
    if unknown:
        raise ServiceError("is not an order source field", field=sorted(unknown)[0])
    if changes.get("webhook_secret") is None:
        changes.pop("webhook_secret", None)
    with transaction.atomic():
        source = OrderSource.objects.select_related("site_area").select_for_update(of=("self",)).filter(
            pk=source_id).first()
        if source is None or not can_see_company(actor, source.site_area.company_id):
            raise ServiceError(f"order source {source_id} does not exist", field="id", status=404)
        before = {"name": source.name, "site_area": source.site_area_id, **_secret_state(source)}
        if "name" in changes:
            name = clean_text(changes, "name", required=True, max_len=200)
            if OrderSource.objects.filter(name=name).exclude(pk=source.pk).exists():
                raise ServiceError("an order source with this name exists", field="name", status=409)
            source.name = name
        if "site_area" in changes:
            source.site_area = _site_area(changes["site_area"], actor)
        if "kind" in changes:
            source.kind = _kind(changes["kind"])
        if "store_money" in changes:
            source.store_money = _store_money(changes["store_money"])
        secret_changed = False
        if "webhook_secret" in changes:
            secret = _secret(changes["webhook_secret"])
            if secret and source.kind == OrderSource.Kind.API:
                raise ServiceError("only a shopify or woocommerce source has a webhook secret", field="webhook_secret")
            secret_changed = _set_secret(source, secret, timezone.now())
        if source.kind == OrderSource.Kind.API and source.webhook_secret_enc:
            _set_secret(source, "", timezone.now())
            secret_changed = True
        source.save()
        record_audit("order_source.update", actor=actor, actor_label=actor_label, obj=source, before=before,
                     after={"name": source.name, "site_area": source.site_area_id, **_secret_state(source)},
                     secret_changed=secret_changed)
    return source
