"""Receive a store delivery (``receive_store_delivery``) and re-process a failed one (``reprocess_delivery``).

A delivery is verified (HMAC over the raw body with the source's accepted secrets, constant time)
before anything is parsed or stored: a wrong or missing signature is 401 and stores nothing. An
accepted delivery is one ``StoreDelivery`` row (source, topic, delivery id, received at, the raw body,
outcome ``applied`` / ``duplicate`` / ``failed`` with its reason), written in the same transaction as
its effect (the order, its push request). It is answered 200 whatever its outcome: a failed delivery
is kept for a person (the source's page, the API) to re-process once the cause is fixed, and a non-2xx
answer would only make the store retry it, then disable the webhook.

Duplicates: Shopify by ``X-Shopify-Webhook-Id`` (stable across its retries; a unique index, so two
concurrent copies make one effect); WooCommerce by what the delivery changes: each order's snapshot
(``stores.woocommerce.route``) is kept in ``StoreOrderSnapshot`` under a row lock, and a delivery of
the version already applied is a duplicate.

Two modes (``settings.LEDGERLINK_STORE_WEBHOOKS``): ``inline`` (the default) applies the delivery in the
request and answers its outcome; ``queued`` stores it as ``received`` and answers at once, and the
worker applies what was received (``apply_received_deliveries``: in delivery order, up to 500 at a
time, Shopify's new orders through one ``ingest_orders`` batch), each delivery's outcome written in the
transaction of its effect. Either way the delivery is durable before the store gets its 200.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ledgerlink.core import fastsql
from ledgerlink.core.models import OrderSource, StoreDelivery, StoreOrderSnapshot
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.orders import MAX_BATCH, ingest_orders
from ledgerlink.domain.routing.order_sources import accepted_secrets
from ledgerlink.domain.stores.apply import (
    DUPLICATE,
    FAILED,
    IntentOutcome,
    apply_intent,
    ingest_outcome,
    order_input,
    overall,
)
from ledgerlink.stores import MappingError, MappingOptions, shopify, signatures, woocommerce

MAX_BODY = 2_000_000  # bytes; a larger body is answered 413 (a Shopify order of 250 lines is ~0.5 MB)
SHOPIFY, WOOCOMMERCE = OrderSource.Kind.SHOPIFY, OrderSource.Kind.WOOCOMMERCE
RECEIVED = StoreDelivery.Outcome.RECEIVED


@dataclass
class Answer:
    """What the endpoint answers: ``status`` and the JSON ``body``; ``delivery`` is the stored row (None when nothing was stored)."""

    status: int
    body: dict
    delivery: StoreDelivery | None = None
    outcomes: list[IntentOutcome] = field(default_factory=list)


def _label(source: OrderSource) -> str:
    return f"{source.kind}:{source.pk}"


def _options(source: OrderSource) -> MappingOptions:
    return MappingOptions(money=source.store_money)


# What receiving reads of the source (the rest loads on first use, for an inline delivery's effect).
_SOURCE_FIELDS = ("id", "site_area", "kind", "webhook_secret_enc", "previous_webhook_secret_enc",
                  "previous_secret_until", "store_money")


def _source(order_source_id: int, kind: str) -> OrderSource:
    source = fastsql.get_one(OrderSource, _SOURCE_FIELDS, id=order_source_id, kind=kind)
    if source is None:
        raise ServiceError(f"no {kind} order source {order_source_id}", field="order_source", status=404)
    return source


def _answer(delivery: StoreDelivery, outcomes=()) -> Answer:
    body = {"delivery": delivery.pk, "outcome": delivery.outcome, "reason": delivery.reason}
    return Answer(200, body, delivery, list(outcomes))


def _duplicate(source, topic, delivery_id, body, now, reason) -> Answer:
    delivery = StoreDelivery.objects.create(
        order_source=source, topic=topic, delivery_id=delivery_id, received_at=now, body=body,
        outcome=DUPLICATE, reason=reason, processed_at=now,
    )
    return _answer(delivery)


def receive_store_delivery(order_source_id: int, kind: str, body: bytes, headers) -> Answer:
    """Verify, store and apply one delivery to ``/webhooks/<kind>/<order_source_id>``.

    ServiceError 404 (no such source of that kind), 401 (signature), 413 (size). WooCommerce's
    creation ping (``webhook_id=N``, unsigned) is answered 200 and stores nothing."""
    if len(body) > MAX_BODY:  # the view refuses an announced oversize body before reading it
        raise ServiceError(f"the body is larger than {MAX_BODY:,} bytes", field="body", status=413)
    source = _source(order_source_id, kind)
    if kind == WOOCOMMERCE and woocommerce.is_ping(body):
        return Answer(200, {"ping": woocommerce.ping_webhook_id(body)})
    secrets = accepted_secrets(source)
    if kind == SHOPIFY:
        signed = signatures.verify_shopify(body, signatures.shopify_signature(headers), secrets)
        header_name = signatures.SHOPIFY_HMAC_HEADER
    else:
        signed = signatures.verify_woocommerce(body, signatures.header(headers, signatures.WC_SIGNATURE_HEADER),
                                               secrets)
        header_name = signatures.WC_SIGNATURE_HEADER
    if not signed:
        why = "no webhook secret is set for this order source" if not secrets else "does not match"
        raise ServiceError(f"{header_name}: {why}", field="signature", status=401)

    now = timezone.now()
    if kind == SHOPIFY:
        topic = (signatures.header(headers, signatures.SHOPIFY_TOPIC_HEADER) or "").strip()[:100]
        delivery_id = (signatures.header(headers, signatures.SHOPIFY_WEBHOOK_ID_HEADER) or "").strip()[:200]
    else:
        topic = (signatures.header(headers, signatures.WC_TOPIC_HEADER) or "").strip()[:100]
        delivery_id = (signatures.header(headers, signatures.WC_DELIVERY_ID_HEADER) or "").strip()[:200]
    queued = settings.LEDGERLINK_STORE_WEBHOOKS == "queued"
    # Inline, a re-delivery is found before it is processed; queued, the unique index finds it.
    if kind == SHOPIFY and delivery_id and not queued and _seen(source, delivery_id):
        return _duplicate(source, topic, delivery_id, body, now, f"webhook id {delivery_id} was received before")
    try:
        with transaction.atomic():
            delivery = StoreDelivery(order_source=source, topic=topic, delivery_id=delivery_id, received_at=now,
                                     body=body)
            if queued:
                delivery.outcome = RECEIVED
                outcomes = []
            else:
                outcomes = _process(source, delivery)
            fastsql.insert(delivery)  # the one INSERT of a delivery, without the ORM's query building
    except IntegrityError:
        # A concurrent copy of the same delivery won the unique index: this one made nothing.
        if kind == SHOPIFY and delivery_id and _seen(source, delivery_id):
            return _duplicate(source, topic, delivery_id, body, now, f"webhook id {delivery_id} was received before")
        raise
    return _answer(delivery, outcomes)


def apply_received_deliveries(limit: int = MAX_BATCH) -> int:
    """Apply up to ``limit`` deliveries stored as ``received`` (queued mode), oldest first, in one
    transaction: Shopify ``orders/create`` bodies go through one ``ingest_orders`` batch, the others
    one by one (WooCommerce in order, against each order's snapshot). Returns how many were applied.
    PostgreSQL: rows locked with SKIP LOCKED, so several workers share the work."""
    with transaction.atomic():
        qs = StoreDelivery.objects.filter(outcome=RECEIVED).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(qs.select_related("order_source__site_area__company")[:limit])
        if not rows:
            return 0
        batch: list[tuple[StoreDelivery, object]] = []
        for delivery in rows:
            source = delivery.order_source
            if source.kind == SHOPIFY and delivery.topic.strip().lower() == "orders/create":
                try:
                    intent = shopify.route(delivery.topic, shopify.parse_body(bytes(delivery.body)), _options(source))
                except MappingError:
                    intent = None  # _process records the error
                if intent is not None and intent.kind == "order":
                    delivery.external_id = (intent.order_external_id or "")[:200]
                    batch.append((delivery, intent))
                    continue
            _process(source, delivery)
        if batch:
            results = ingest_orders([order_input(d.order_source, intent.data) for d, intent in batch],
                                    actor_label="store-webhooks")
            for (delivery, _), result in zip(batch, results, strict=True):
                outcome = ingest_outcome(result)
                delivery.outcome, delivery.reason, delivery.field = overall([outcome])
                delivery.order_id = outcome.order_id
                delivery.intents = [outcome.as_dict()]
                delivery.processed_at = timezone.now()
        StoreDelivery.objects.bulk_update(
            rows, ["outcome", "reason", "field", "external_id", "order", "intents", "previous_snapshot",
                   "processed_at"], batch_size=500)
    return len(rows)


def applying_can_wait(now=None) -> bool:
    """True while a burst is arriving: the ``LEDGERLINK_STORE_BURST_RATE``-th newest received
    delivery came less than a second ago, and the oldest received one has waited less than
    ``LEDGERLINK_STORE_BURST_MAX_WAIT`` seconds. The worker then applies nothing: the web processes,
    which must answer each delivery within the store's time limit, get the CPU and the database (on
    a 2-core machine applying 200 a second as they come took the CPU the answers needed). Two
    index reads (outcome, id)."""
    rate = settings.LEDGERLINK_STORE_BURST_RATE
    if rate <= 0:
        return False
    now = now or timezone.now()
    received = StoreDelivery.objects.filter(outcome=RECEIVED)
    oldest = received.order_by("id").values_list("received_at", flat=True).first()
    if oldest is None or (now - oldest).total_seconds() >= settings.LEDGERLINK_STORE_BURST_MAX_WAIT:
        return False
    nth = received.order_by("-id").values_list("received_at", flat=True)[rate - 1:rate]
    return any((now - at).total_seconds() < 1.0 for at in nth)


def _seen(source: OrderSource, delivery_id: str) -> bool:
    return StoreDelivery.objects.filter(order_source=source, delivery_id=delivery_id).exclude(
        outcome=DUPLICATE).exists()


def _process(source: OrderSource, delivery: StoreDelivery, *, reprocess: bool = False) -> list[IntentOutcome]:
    """Route the delivery's body and apply its intents; set the delivery's outcome (not saved)."""
    label = _label(source)
    raw = bytes(delivery.body)
    outcomes: list[IntentOutcome] = []
    try:
        body = shopify.parse_body(raw) if source.kind == SHOPIFY else woocommerce.parse_body(raw)
        if source.kind == SHOPIFY:
            intents = [shopify.route(delivery.topic, body, _options(source))]
        else:
            intents = _route_woocommerce(source, delivery, body, reprocess=reprocess)
    except MappingError as exc:
        delivery.outcome, delivery.reason, delivery.field = FAILED, str(exc), exc.field or ""
        delivery.intents = []
        delivery.processed_at = timezone.now()
        return outcomes
    if intents is None:  # WooCommerce: the version already applied
        delivery.outcome = DUPLICATE
        delivery.reason = "the order's version was applied already (a re-delivery)"
        delivery.intents = [{"kind": "ignore", "outcome": DUPLICATE, "reason": delivery.reason}]
        delivery.processed_at = timezone.now()
        return outcomes
    for intent in intents:
        if delivery.external_id == "" and intent.order_external_id:
            delivery.external_id = intent.order_external_id[:200]
        outcome = apply_intent(source, intent, actor_label=label)
        outcomes.append(outcome)
        if outcome.order_id and delivery.order_id is None:
            delivery.order_id = outcome.order_id
    delivery.outcome, delivery.reason, delivery.field = overall(outcomes)
    delivery.intents = [o.as_dict() for o in outcomes]
    delivery.processed_at = timezone.now()
    return outcomes


def _route_woocommerce(source: OrderSource, delivery: StoreDelivery, body: dict, *, reprocess: bool):
    """The delivery's intents against the order's stored snapshot (locked), the snapshot updated;
    None when it is the version already applied. A re-process compares with the snapshot the
    delivery was first compared with."""
    order_id = body.get("id")
    order_key = str(order_id).strip() if isinstance(order_id, int | str) and not isinstance(order_id, bool) else ""
    row = None
    if order_key and woocommerce_topic_has_order(delivery.topic):
        StoreOrderSnapshot.objects.get_or_create(order_source=source, external_id=order_key[:200])
        row = StoreOrderSnapshot.objects.select_for_update().get(order_source=source, external_id=order_key[:200])
    if reprocess:
        previous = delivery.previous_snapshot
    else:
        previous = row.snapshot if row is not None else None
        delivery.previous_snapshot = previous
    routed = woocommerce.route(delivery.topic, body, previous=previous, options=_options(source))
    if (
        previous is not None
        and len(routed.intents) == 1
        and routed.intents[0].kind == "ignore"
        and routed.intents[0].version == previous["version"]
    ):
        return None
    if row is not None and routed.snapshot is not None and routed.snapshot is not previous:
        stored = row.snapshot
        if stored is None or (stored.get("date_modified_gmt") or "") <= (routed.snapshot["date_modified_gmt"] or ""):
            row.snapshot, row.updated_at = routed.snapshot, timezone.now()
            row.save(update_fields=["snapshot", "updated_at"])
    return list(routed.intents)


def woocommerce_topic_has_order(topic: str) -> bool:
    return (topic or "").strip().lower() in woocommerce.TOPICS


def reprocess_delivery(delivery_id: int, *, actor=None, actor_label: str | None = None) -> StoreDelivery:
    """Run a failed delivery again (after its cause is fixed): the same body, topic and (WooCommerce)
    the snapshot it was first compared with. ServiceError 404 (no such delivery), 409 (not failed)."""
    with transaction.atomic():
        delivery = (
            StoreDelivery.objects.select_for_update().select_related("order_source__site_area__company")
            .filter(pk=delivery_id).first()
        )
        if delivery is None:
            raise ServiceError(f"store delivery {delivery_id} does not exist", field="id", status=404)
        if delivery.outcome != FAILED:
            raise ServiceError(f"store delivery {delivery_id} is {delivery.outcome}, not failed: nothing to"
                               " re-process", field="id", status=409)
        before = {"outcome": delivery.outcome, "reason": delivery.reason}
        _process(delivery.order_source, delivery, reprocess=True)
        delivery.reprocessed += 1
        delivery.save()
        record_audit("store_delivery.reprocess", actor=actor, actor_label=actor_label, obj=delivery,
                     before=before, after={"outcome": delivery.outcome, "reason": delivery.reason})
    return delivery
