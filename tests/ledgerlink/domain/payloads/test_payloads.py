"""build_payload (exact JSON), preflight_payload (QBO's kinds and texts), validate_edited_payload."""

import json
from decimal import Decimal

import pytest

from ledgerlink.core.models import Item
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.payloads.build import build_payload, json_number
from ledgerlink.domain.payloads.edit import validate_edited_payload
from ledgerlink.domain.payloads.preflight import is_valid_email, preflight_payload
from tests.ledgerlink.factories import make_world, order_data

pytestmark = pytest.mark.django_db


def test_invoice_payload_exact():
    w = make_world()
    w.wholesale.shipping_item = "SHIPPING_ITEM_ID"  # QBO's shipping field (AllowShipping on)
    w.wholesale.save()
    order, _ = ingest_order(
        order_data(
            external_id="WP-1001",
            lines=[
                {"sku": "W-100", "description": "Widget blue", "quantity": 3, "unit_price": "0.3333"},
                {"sku": "Gadget", "description": "", "quantity": "2.5", "unit_price": "30"},
                {"sku": "UNKNOWN-SKU", "description": "Custom work", "quantity": 1, "unit_price": "19.99"},
            ],
            shipping="9.60",
            discount="5.00",
            tax="2.10",
            txn_date="2026-11-20",
            currency="CAD",
            bill_address={"line1": "1 Main St", "city": "Springfield", "region": "ON", "postal_code": "K1A",
                          "country": "CA"},
            ship_address={"line1": "2 Dock Rd", "line2": "Bay 4", "city": "Ottawa", "country": "CA"},
        )
    )
    kind, payload = build_payload(order)
    assert kind == "invoice"
    expected = {
        "Line": [
            {"DetailType": "SalesItemLineDetail", "Amount": 1, "Description": "Widget blue",
             "SalesItemLineDetail": {"ItemRef": {"value": "2", "name": "Widget"}, "Qty": 3, "UnitPrice": 0.3333}},
            {"DetailType": "SalesItemLineDetail", "Amount": 75, "Description": "Gadget",
             "SalesItemLineDetail": {"ItemRef": {"value": "3", "name": "Gadget"}, "Qty": 2.5, "UnitPrice": 30}},
            {"DetailType": "SalesItemLineDetail", "Amount": 19.99, "Description": "Custom work",
             "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}, "Qty": 1, "UnitPrice": 19.99}},
            {"DetailType": "SalesItemLineDetail", "Amount": 9.6, "Description": "Shipping",
             "SalesItemLineDetail": {"ItemRef": {"value": "SHIPPING_ITEM_ID"}}},
            {"DetailType": "DiscountLineDetail", "Amount": 5, "Description": "Discount",
             "DiscountLineDetail": {"PercentBased": False}},
        ],
        "CustomerRef": {"value": "56", "name": "Acme Tools"},
        "BillEmail": {"Address": "name2@example.com"},
        "DocNumber": "WP-1001",
        "TxnDate": "2026-11-20",
        "TxnTaxDetail": {"TotalTax": 2.1},
        "CurrencyRef": {"value": "CAD"},
        "BillAddr": {"Line1": "1 Main St", "City": "Springfield", "CountrySubDivisionCode": "ON",
                     "PostalCode": "K1A", "Country": "CA"},
        "ShipAddr": {"Line1": "2 Dock Rd", "Line2": "Bay 4", "City": "Ottawa", "Country": "CA"},
        "PrivateNote": f"ledgerlink-order:{order.pk}",
    }
    assert payload == expected
    # Serialised as JSON numbers, never strings.
    assert json.dumps(payload["Line"][0]) == (
        '{"DetailType": "SalesItemLineDetail", "Amount": 1, "Description": "Widget blue", '
        '"SalesItemLineDetail": {"ItemRef": {"value": "2", "name": "Widget"}, "Qty": 3, "UnitPrice": 0.3333}}'
    )
    # The stored revision 1 is exactly what the builder makes.
    assert order.push_requests.get().revisions.get(number=1).payload == expected
    assert order.total == Decimal("102.69")  # 95.99 + 9.60 - 5 + 2.10


def test_sales_receipt_payload_exact_no_email_no_customer():
    w = make_world()
    w.web.shipping_item = "1"
    w.web.save()
    order, _ = ingest_order(
        order_data(source="Web Shop", external_id="WEB-3001", email="",
                   lines=[{"sku": "W-100", "description": "W", "quantity": 1, "unit_price": "12.50"}], shipping="4")
    )
    kind, payload = build_payload(order)
    assert (kind, payload) == (
        "sales_receipt",
        {
            "Line": [
                {"DetailType": "SalesItemLineDetail", "Amount": 12.5, "Description": "W",
                 "SalesItemLineDetail": {"ItemRef": {"value": "2", "name": "Widget"}, "Qty": 1, "UnitPrice": 12.5}},
                {"DetailType": "SalesItemLineDetail", "Amount": 4, "Description": "Shipping",
                 "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}}},
            ],
            "DocNumber": "WEB-3001",
            "PrivateNote": f"ledgerlink-order:{order.pk}",
        },
    )
    assert preflight_payload(w.company, kind, payload) is None


def test_customer_ref_sources_in_order_of_precedence():
    w = make_world()
    w.wholesale.customer_policy = "default"
    w.wholesale.default_customer = "57"
    w.wholesale.save()
    order, _ = ingest_order(order_data(email="name2@example.com"))
    assert build_payload(order)[1]["CustomerRef"] == {"value": "57", "name": "Trade Show Account"}
    order.qbo_customer_id = "999"  # set by a rule; not (yet) in the mirror
    assert build_payload(order)[1]["CustomerRef"] == {"value": "999"}
    # Email match is case- and space-insensitive.
    w.wholesale.customer_policy = "match"
    w.wholesale.save()
    order.qbo_customer_id = ""
    order.email = "  NAME2@Example.COM "
    order.order_source.site_area.refresh_from_db()
    assert build_payload(order)[1]["CustomerRef"] == {"value": "56", "name": "Acme Tools"}


def test_long_doc_number_stays_in_payload_and_preflight_flags_it():
    w = make_world()
    number = "WHOLESALE-PORTAL-000000123"  # 26 characters
    order, _ = ingest_order(order_data(external_id="X1", number=number))
    kind, payload = build_payload(order)
    assert payload["DocNumber"] == number
    err = preflight_payload(w.company, kind, payload)
    assert (err.kind, err.message, err.detail, err.code, err.element, err.title) == (
        "doc_number_too_long",
        "Invalid String Length",
        "String length is either shorter or longer than supported by specification. Min:0 Max:21 supplied:26",
        "2050",
        "DocNumber",
        "DocNumber is longer than 21 characters",
    )
    assert order.push_requests.get().error_kind == "doc_number_too_long"


def _invoice(**extra):
    body = {
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 10,
                  "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 10}}],
        "CustomerRef": {"value": "56"},
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [
        ("invoice", _invoice(), None),
        ("invoice", _invoice(CustomerRef=None), ("customer_ref_required", "2020", "CustomerRef")),
        ("invoice", _invoice(CustomerRef={"value": ""}), ("customer_ref_required", "2020", "CustomerRef")),
        ("sales_receipt", _invoice(CustomerRef=None), None),
        ("invoice", _invoice(BillEmail={"Address": "a@@b..com"}, CustomerRef=None),
         ("invalid_email", "2210", "BillEmail.Address")),
        ("sales_receipt", _invoice(BillEmail={"Address": "no-at-sign.example.com"}),
         ("invalid_email", "2210", "BillEmail.Address")),
        ("invoice", _invoice(BillEmail={"Address": "ok.name+tag@example.co.uk"}), None),
        ("invoice", _invoice(BillEmail={"Address": "ap@cedar.example, buyer@cedar.example"}), None),
        ("invoice", _invoice(BillEmail={"Address": "ap@cedar.example, buyer@"}), ("invalid_email", "2210", "BillEmail.Address")),
        ("invoice", _invoice(Line=[]), ("validation", "2020", "Line")),
        ("invoice", _invoice(Line=[{"DetailType": "SalesItemLineDetail", "Amount": 1,
                                    "SalesItemLineDetail": {"ItemRef": {"value": "77"}}}]),
         ("invalid_reference", "2500", "Line.SalesItemLineDetail.ItemRef")),
        ("invoice", _invoice(Line=[{"DetailType": "SalesItemLineDetail", "Amount": 1,
                                    "SalesItemLineDetail": {"ItemRef": {"value": "4"}}}]),
         ("invalid_reference", "2500", "")),
        ("invoice", _invoice(Line=[{"DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {}}]),
         ("invalid_reference", "2500", "Line.SalesItemLineDetail.ItemRef")),
        ("invoice", _invoice(Line=[{"DetailType": "SalesItemLineDetail", "Amount": 1,
                                    "SalesItemLineDetail": {"ItemRef": {"value": "SHIPPING_ITEM_ID"}}}]), None),
        ("invoice", _invoice(DocNumber="x" * 21), None),
    ],
)
def test_preflight_kinds(kind, payload, expected):
    w = make_world()
    err = preflight_payload(w.company, kind, payload)
    if expected is None:
        assert err is None
    else:
        assert (err.kind, err.code, err.element) == expected


def test_preflight_invalid_email_texts_match_qbo():
    w = make_world()
    err = preflight_payload(w.company, "invoice", _invoice(BillEmail={"Address": "sales@@example..com"}))
    assert err.as_dict() == {
        "kind": "invalid_email",
        "message": "Invalid Email Address format",
        "detail": "Email Address does not conform to the syntax rules of RFC 822. Supplied value:sales@@example..com",
        "code": "2210",
        "element": "BillEmail.Address",
        "title": "Invalid Email Address format",
        "fix": err.fix,
    }
    assert err.fix.startswith("The email address for a new Customer is not formatted correctly.")


def test_preflight_inactive_item_detail_and_unsynced_mirror_defers_to_qbo():
    w = make_world()
    err = preflight_payload(w.company, "invoice", _invoice(Line=[{"DetailType": "SalesItemLineDetail", "Amount": 1,
                                                                   "SalesItemLineDetail": {"ItemRef": {"value": "4"}}}]))
    assert err.detail == (
        "Invalid Reference Id : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees."
    )
    Item.objects.filter(company=w.company).delete()
    assert preflight_payload(w.company, "invoice", _invoice()) is None  # no mirror yet: QBO judges


@pytest.mark.parametrize(
    ("value", "number"),
    [("12.50", 12.5), ("3", 3), ("0.3333", 0.3333), ("100.00", 100), ("19.99", 19.99)],
)
def test_json_number(value, number):
    from decimal import Decimal

    out = json_number(Decimal(value))
    assert out == number and type(out) is type(number)


@pytest.mark.parametrize(
    ("email", "ok"),
    [("a@b.co", True), ("first.last+tag@sub.example.com", True), ("a@@b.com", False), ("a@b", False),
     ("a b@c.com", False), ("a@b..com", False), (".a@b.com", False), ("", False)],
)
def test_is_valid_email(email, ok):
    assert is_valid_email(email) is ok


# --- validate_edited_payload -------------------------------------------------------------------------


def test_edit_accepts_seed_shape_with_string_total():
    body = _invoice(BillEmail={"Address": "name2@example.com"}, TotalAmt="69.60",
                    CustomerRef={"value": "56", "name": "Acme Tools"})
    assert validate_edited_payload("invoice", body) is body


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ([1, 2], "payload", "must be a JSON object (the bare document body)"),
        ("{}", "payload", "must be a JSON object (the bare document body)"),
        ({}, "payload", "must not be empty"),
        ({"Invoice": {"Line": []}}, "payload.Invoice",
         "must be the bare Invoice body, not wrapped in 'Invoice'; the kind of document cannot change"),
        ({"SalesReceipt": {}}, "payload.SalesReceipt",
         "must be the bare Invoice body, not wrapped in 'SalesReceipt'; the kind of document cannot change"),
        ({"Line": [], "domain": "QBX"}, "payload.domain", 'must be "QBO" if given'),
        ({"Line": [], "Id": "12"}, "payload.Id",
         "cannot be set: a re-queue creates the document, it never targets another one"),
        ({"Line": [], "sparse": True}, "payload.sparse", "cannot be true: a re-queue creates the document"),
        ({"Line": {"Amount": 1}}, "payload.Line", "must be a list of lines"),
        ({"Line": ["x"]}, "payload.Line[0]", "must be an object"),
        ({"Line": [{"Amount": "10.00"}]}, "payload.Line[0].Amount", "must be a number"),
        ({"Line": [{"Amount": True}]}, "payload.Line[0].Amount", "must be a number"),
        ({"Line": [{"Amount": 1, "SalesItemLineDetail": {"Qty": "2"}}]},
         "payload.Line[0].SalesItemLineDetail.Qty", "must be a number"),
        ({"Line": [{"Amount": 1, "SalesItemLineDetail": {"ItemRef": "2"}}]},
         "payload.Line[0].SalesItemLineDetail.ItemRef", 'must be an object with a "value"'),
        ({"Line": [], "CustomerRef": "56"}, "payload.CustomerRef", 'must be an object with a non-empty "value"'),
        ({"Line": [], "BillEmail": "a@b.com"}, "payload.BillEmail", 'must be an object with an "Address" string'),
        ({"Line": [], "TxnTaxDetail": {"TotalTax": "1"}}, "payload.TxnTaxDetail.TotalTax", "must be a number"),
        ({"Line": [], "DocNumber": 12}, "payload.DocNumber", "must be a string"),
        ({"Line": [{"Amount": float("nan")}]}, "payload.Line[0].Amount",
         "must be a finite number (NaN and Infinity are not JSON)"),
    ],
)
def test_edit_refused_with_field(payload, field, message):
    with pytest.raises(ServiceError) as exc:
        validate_edited_payload("invoice", payload)
    assert (exc.value.field, exc.value.message, exc.value.status) == (field, message, 422)


def test_edit_of_an_update_keeps_its_id_and_may_change_sync_token():
    current = {"Id": "12", "SyncToken": "0", "sparse": True, "Active": False}
    assert validate_edited_payload("customer", {**current, "SyncToken": "3"}, current)["SyncToken"] == "3"
    with pytest.raises(ServiceError) as exc:
        validate_edited_payload("customer", {**current, "Id": "13"}, current)
    assert (exc.value.field, exc.value.message) == ("payload.Id", 'must stay "12": an edit never targets another document')
    with pytest.raises(ServiceError) as exc:
        validate_edited_payload("customer", {"Id": "12", "Active": False}, current)
    assert (exc.value.field, exc.value.message) == ("payload.SyncToken", "is required to update a document")


def test_ten_megabyte_edit_is_refused_clearly():
    payload = _invoice(PrivateNote="x" * (10 * 1024 * 1024))
    with pytest.raises(ServiceError) as exc:
        validate_edited_payload("invoice", payload)
    assert exc.value.status == 413
    assert exc.value.field == "payload"
    assert exc.value.message == "is 10,485,953 bytes; an edited payload may be at most 1,000,000 bytes"
