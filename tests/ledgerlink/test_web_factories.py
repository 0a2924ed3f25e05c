"""Builders for the admin area's tests (data written straight to the DB, as the worker would)."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from ledgerlink.core.models import (
    Attempt,
    Company,
    Customer,
    CustomerEmail,
    Order,
    OrderSource,
    PushRequest,
    PushRevision,
    SiteArea,
    UserProfile,
)

PASSWORD = "correct-horse-battery-9"

QBO_HTML_MESSAGE = 'Business Validation Error: <b>bold</b> <img src=x onerror="alert(1)">'


def make_user(username: str, role: str):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
    UserProfile.objects.create(user=user, role=role)
    return user


def make_world():
    company = Company.objects.create(name="Demo Company", realm_id="9130350000000001", api_base_url="http://127.0.0.1:1")
    wholesale = SiteArea.objects.create(name="Wholesale", company=company, push_method="invoice")
    retail = SiteArea.objects.create(name="Retail", company=company, push_method="sales_receipt")
    portal = OrderSource.objects.create(name="Wholesale portal", site_area=wholesale)
    shop = OrderSource.objects.create(name="Web store", site_area=retail)
    acme = Customer.objects.create(company=company, qbo_id="56", display_name="Acme Tools", email="name2@example.com")
    CustomerEmail.objects.create(company=company, customer=acme, email="name2@example.com")
    return {"company": company, "wholesale": wholesale, "retail": retail, "portal": portal, "shop": shop, "acme": acme}


def invoice_payload(email: str = "", total: str = "69.60", customer=None) -> dict:
    payload = {
        "DocNumber": "W-1001",
        "TxnDate": "2026-11-20",
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": 69.6,
                "Description": "Widget x2",
                "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Widget"}, "Qty": 2, "UnitPrice": 34.8},
            }
        ],
        "TotalAmt": total,
    }
    if email:
        payload["BillEmail"] = {"Address": email}
    if customer:
        payload["CustomerRef"] = customer
    return payload


def make_failed_request(
    world,
    *,
    number="W-1001",
    email="buyer@newco.example",
    kind="customer_ref_required",
    title="CustomerRef is required",
    message="Required param missing, need to supply the required value for the API",
    detail="Required parameter CustomerRef is missing in the request",
    code="2020",
    element="CustomerRef",
    source=None,
    customer_name="New Co",
    payload=None,
    state=PushRequest.State.FAILED,
):
    source = source or world["portal"]
    order = Order.objects.create(
        order_source=source,
        external_id=number,
        number=number,
        email=email,
        customer_name=customer_name,
        total="69.60",
        status=Order.Status.FAILED if state == PushRequest.State.FAILED else Order.Status.QUEUED,
    )
    now = timezone.now()
    completed = state in PushRequest.COMPLETED_STATES
    pr = PushRequest.objects.create(
        company=world["company"],
        order=order,
        site_area=source.site_area,
        order_source=source,
        email=email,
        kind=PushRequest.Kind.INVOICE,
        state=state,
        error_kind=kind if state == PushRequest.State.FAILED else "",
        error_title=title if state == PushRequest.State.FAILED else "",
        error_message=message if state == PushRequest.State.FAILED else "",
        error_detail=detail if state == PushRequest.State.FAILED else "",
        error_code=code if state == PushRequest.State.FAILED else "",
        error_element=element if state == PushRequest.State.FAILED else "",
        attempt_count=1 if completed else 0,
        completed_at=now if completed else None,
    )
    PushRevision.objects.create(
        push_request=pr, number=1, payload=payload or invoice_payload(email), author_label="system", note="built"
    )
    if state == PushRequest.State.FAILED:
        Attempt.objects.create(
            push_request=pr,
            company=world["company"],
            revision=1,
            requestid=pr.requestid,
            worker="w1",
            started_at=now - timedelta(seconds=2),
            duration_ms=312,
            http_status=400,
            outcome=Attempt.Outcome.FAILED,
            error_kind=kind,
            fault_code=code,
            intuit_tid="1-6579abcd-0123456789abcdef",
            response_body=json.dumps(
                {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}], "type": "ValidationFault"}}
            ),
        )
    return pr
