"""Store deliveries (``domain.stores``): everybody reads, operators re-process a failed one."""

from __future__ import annotations

import base64
from datetime import datetime

from ninja import Router, Schema

from ledgerlink.api.auth import label, need
from ledgerlink.api.errors import ERRORS, Id
from ledgerlink.core.models import StoreDelivery
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.paging import keyset_page, page_size
from ledgerlink.domain.stores.deliveries import reprocess_delivery

router = Router()


class DeliveryOut(Schema):
    id: int
    order_source: int
    topic: str
    delivery_id: str
    received_at: datetime
    processed_at: datetime
    outcome: str
    reason: str
    field: str
    external_id: str
    order: int | None
    intents: list[dict]
    reprocessed: int


class DeliveryDetail(DeliveryOut):
    body: str  # the raw body as received (UTF-8 text; base64 when it is not UTF-8)
    body_encoding: str


class DeliveryPage(Schema):
    deliveries: list[DeliveryOut]
    next_after: int | None


def _out(d: StoreDelivery) -> dict:
    return {
        "id": d.pk, "order_source": d.order_source_id, "topic": d.topic, "delivery_id": d.delivery_id,
        "received_at": d.received_at, "processed_at": d.processed_at, "outcome": d.outcome, "reason": d.reason,
        "field": d.field, "external_id": d.external_id, "order": d.order_id, "intents": d.intents,
        "reprocessed": d.reprocessed,
    }


def _detail(d: StoreDelivery) -> dict:
    raw = bytes(d.body)
    try:
        body, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return {**_out(d), "body": body, "body_encoding": encoding}


@router.get("/store-deliveries", response={200: DeliveryPage, **ERRORS}, tags=["store deliveries"])
def list_store_deliveries(request, order_source: Id | None = None, outcome: str | None = None,
                          after: Id | None = None, limit: int | None = None):
    qs = limit_to_companies(StoreDelivery.objects.defer("body"), request.auth, "order_source__site_area__company_id")
    if order_source:
        qs = qs.filter(order_source_id=order_source)
    if outcome:
        if outcome not in StoreDelivery.Outcome.values:
            raise ServiceError(f"must be one of {', '.join(StoreDelivery.Outcome.values)}", field="outcome")
        qs = qs.filter(outcome=outcome)
    page = keyset_page(qs, after, page_size(limit))
    return {"deliveries": [_out(d) for d in page.rows], "next_after": page.next_after}


@router.get("/store-deliveries/{delivery_id}", response={200: DeliveryDetail, **ERRORS}, tags=["store deliveries"])
def get_store_delivery(request, delivery_id: int):
    delivery = limit_to_companies(StoreDelivery.objects.filter(pk=delivery_id), request.auth,
                                  "order_source__site_area__company_id").first()
    if delivery is None:
        raise ServiceError(f"store delivery {delivery_id} does not exist", field="id", status=404)
    return _detail(delivery)


@router.post("/store-deliveries/{delivery_id}/reprocess", response={200: DeliveryOut, **ERRORS},
             tags=["store deliveries"])
def reprocess_store_delivery(request, delivery_id: int):
    user = need(request, "operator")
    if not limit_to_companies(StoreDelivery.objects.filter(pk=delivery_id), user,
                              "order_source__site_area__company_id").exists():
        raise ServiceError(f"store delivery {delivery_id} does not exist", field="id", status=404)
    return _out(reprocess_delivery(delivery_id, actor=user, actor_label=label(user)))
