"""requeue_request / bulk_requeue / cancel_request: revisions never overwritten, requestids, states."""

import pytest

from ledgerlink.core.models import Attempt, AuditLog, PushRequest, PushRevision
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.outbox.actions import bulk_requeue, cancel_request, requeue_request
from ledgerlink.domain.outbox.create import create_push_request
from tests.ledgerlink.factories import make_user, make_world, order_data

pytestmark = pytest.mark.django_db


def _failed_customer_ref(external_id="WP-1003", email="new.buyer@example.org") -> PushRequest:
    order, _ = ingest_order(order_data(external_id=external_id, email=email))
    pr = order.push_requests.get()
    assert (pr.state, pr.error_kind) == ("failed", "customer_ref_required")
    return pr


def test_seed_story_1_edit_customer_ref_new_revision_nothing_overwritten():
    make_world()
    alice = make_user("alice", "operator")
    pr = _failed_customer_ref()
    rev1 = pr.revisions.get(number=1).payload
    edited = {**rev1, "BillEmail": {"Address": "name2@example.com"}, "TotalAmt": "69.60",
              "CustomerRef": {"value": "56", "name": "Acme Tools"}}
    pr = requeue_request(pr.pk, payload=edited, note="customer created in QBO", actor=alice)
    assert (pr.state, pr.revision, pr.requestid, pr.attempt_count, pr.error_kind, pr.error_message,
            pr.completed_at, pr.outcome_unknown) == ("queued", 2, f"ll-{pr.pk}-r2", 0, "", "", None, False)
    revs = list(pr.revisions.order_by("number").values_list("number", "author_id", "author_label", "note"))
    assert revs == [(1, None, "system", ""), (2, alice.pk, "alice", "customer created in QBO")]
    assert pr.revisions.get(number=1).payload == rev1  # untouched
    assert pr.revisions.get(number=2).payload == edited
    assert list(pr.attempts.values_list("revision", "outcome")) == [(1, "preflight")]  # kept
    pr.order.refresh_from_db()
    assert pr.order.status == "queued"
    audit = AuditLog.objects.get(action="push_request.requeue")
    assert (audit.actor_id, audit.data["from_revision"], audit.data["revision"], audit.data["edited"]) == (
        alice.pk, 1, 2, True,
    )


def test_unchanged_requeue_bumps_revision_with_identical_copy_for_a_new_requestid():
    w = make_world()
    order, _ = ingest_order(order_data())
    pr = order.push_requests.get()
    PushRequest.objects.filter(pk=pr.pk).update(state="failed", error_kind="connection_003202",
                                                error_message="message=BadRequest; errorCode=003202; statusCode=400")
    pr = requeue_request(pr.pk, actor_label="bob")
    assert (pr.state, pr.revision, pr.requestid, pr.error_kind) == ("queued", 2, f"ll-{pr.pk}-r2", "")
    r1, r2 = pr.revisions.order_by("number")
    assert r1.payload == r2.payload
    assert (r2.author_label, r2.note) == ("bob", "re-queued unchanged")
    assert w.company.push_requests.count() == 1


def test_outcome_unknown_keeps_the_revision_and_requestid_and_refuses_edits():
    make_world()
    order, _ = ingest_order(order_data())
    pr = order.push_requests.get()
    PushRequest.objects.filter(pk=pr.pk).update(state="retrying", outcome_unknown=True, attempt_count=3)
    with pytest.raises(ServiceError) as exc:
        requeue_request(pr.pk, payload={"Line": []})
    assert (exc.value.status, exc.value.field) == (409, "payload")
    pr = requeue_request(pr.pk)
    assert (pr.state, pr.revision, pr.requestid, pr.attempt_count, pr.outcome_unknown) == (
        "queued", 1, f"ll-{pr.pk}-r1", 0, True,
    )
    assert pr.revisions.count() == 1
    with pytest.raises(ServiceError) as exc:
        cancel_request(pr.pk)
    assert exc.value.status == 409


@pytest.mark.parametrize("state", ["queued", "sending", "succeeded"])
def test_requeue_from_other_states_is_409_and_writes_nothing(state):
    make_world()
    order, _ = ingest_order(order_data())
    pr = order.push_requests.get()
    PushRequest.objects.filter(pk=pr.pk).update(state=state)
    with pytest.raises(ServiceError) as exc:
        requeue_request(pr.pk, payload={"Line": []}, note="x")
    assert (exc.value.status, exc.value.field, exc.value.message) == (
        409, "state",
        f"request {pr.pk} is {state}; only failed, cancelled or retrying requests can be re-queued",
    )
    assert PushRevision.objects.count() == 1
    assert not AuditLog.objects.filter(action="push_request.requeue").exists()


def test_requeue_missing_request_is_404():
    with pytest.raises(ServiceError) as exc:
        requeue_request(424242)
    assert (exc.value.status, exc.value.message) == (404, "push request 424242 does not exist")


def test_preflight_runs_on_requeue_seed_story_2_invalid_email_then_customer_ref():
    make_world()
    order, _ = ingest_order(order_data(external_id="WP-1004", email="sales@@example..com"))
    pr = order.push_requests.get()
    assert pr.error_kind == "invalid_email"
    payload = {**pr.revisions.get().payload, "BillEmail": {"Address": "sales@example.com"}}
    pr = requeue_request(pr.pk, payload=payload, note="fixed email")
    # As the seed says: fixing the email leads to "CustomerRef is required", at once, without a call.
    assert (pr.state, pr.revision, pr.error_kind) == ("failed", 2, "customer_ref_required")
    assert list(pr.attempts.order_by("id").values_list("revision", "outcome", "error_kind", "requestid")) == [
        (1, "preflight", "invalid_email", f"ll-{pr.pk}-r1"),
        (2, "preflight", "customer_ref_required", f"ll-{pr.pk}-r2"),
    ]
    payload = {**payload, "CustomerRef": {"value": "56", "name": "Acme Tools"}}
    pr = requeue_request(pr.pk, payload=payload)
    assert (pr.state, pr.revision, pr.error_kind) == ("queued", 3, "")
    assert pr.revisions.count() == 3


def test_bulk_requeue_by_filter_with_patch_and_by_ids():
    w = make_world()
    a = _failed_customer_ref("A", "a@nowhere.example")
    b = _failed_customer_ref("B", "b@nowhere.example")
    c = _failed_customer_ref("C", "c@nowhere.example")
    ok, _ = ingest_order(order_data(external_id="OK"))
    ok_pr = ok.push_requests.get()
    ids = bulk_requeue(ids=[a.pk, ok_pr.pk], actor_label="ops")  # the queued one is skipped
    assert ids == [a.pk]
    assert PushRequest.objects.get(pk=a.pk).revision == 2
    ids = bulk_requeue(error_kind="customer_ref_required", site_area=w.wholesale.pk,
                       payload_patch={"CustomerRef": {"value": "56"}}, note="all to Acme")
    assert ids == [a.pk, b.pk, c.pk]
    for pr in PushRequest.objects.filter(pk__in=ids):
        assert (pr.state, pr.revision) == ("queued", 3 if pr.pk == a.pk else 2)
        assert pr.revisions.get(number=pr.revision).payload["CustomerRef"] == {"value": "56"}
        assert pr.revisions.get(number=pr.revision).note == "all to Acme"
    with pytest.raises(ServiceError) as exc:
        bulk_requeue()
    assert exc.value.field == "ids"


def test_bulk_requeue_with_invalid_patch_writes_nothing():
    make_world()
    a = _failed_customer_ref("A", "a@nowhere.example")
    with pytest.raises(ServiceError) as exc:
        bulk_requeue(ids=[a.pk], payload_patch={"Line": "nope"})
    assert exc.value.field == "payload.Line"
    assert PushRevision.objects.filter(push_request=a).count() == 1


def test_cancel_and_requeue_a_cancelled_request():
    make_world()
    order, _ = ingest_order(order_data())
    pr = cancel_request(order.push_requests.get().pk, note="dup", actor_label="ops")
    assert (pr.state, pr.completed_at is not None) == ("cancelled", True)
    order.refresh_from_db()
    assert order.status == "cancelled"
    with pytest.raises(ServiceError):
        cancel_request(pr.pk)
    pr = requeue_request(pr.pk)
    assert (pr.state, pr.revision) == ("queued", 2)


def test_create_push_request_without_order():
    w = make_world()
    pr = create_push_request(company=w.company, kind="sales_receipt",
                             payload={"Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1,
                                                "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}],
                                      "BillEmail": {"Address": "Someone@Example.com"}})
    assert (pr.state, pr.order_id, pr.site_area_id, pr.email, pr.revision) == (
        "queued", None, None, "someone@example.com", 1,
    )
    assert Attempt.objects.count() == 0
    with pytest.raises(ServiceError):
        create_push_request(company=w.company, kind="bill", payload={})


def test_preflight_customer_ref_failure_waits_on_the_email_and_heals_when_the_mirror_has_it():
    from ledgerlink.core.models import Customer, CustomerEmail
    from ledgerlink.domain.healing.customers import fill_customer_ref
    from ledgerlink.domain.outbox.transitions import customer_waiting_key

    w = make_world()
    pr = _failed_customer_ref("WP-1", "New.Buyer@Example.org")
    other = _failed_customer_ref("WP-2", "still.unknown@example.org")
    assert (pr.waiting_on, pr.email) == (customer_waiting_key("New.Buyer@Example.org"), "new.buyer@example.org")
    buyer = Customer.objects.create(company=w.company, qbo_id="88", display_name="New Buyer")
    CustomerEmail.objects.create(company=w.company, customer=buyer, email="new.buyer@example.org")
    assert fill_customer_ref(w.company, "new.buyer@example.org") == [pr.pk]
    pr.refresh_from_db()
    assert (pr.state, pr.revision, pr.waiting_on, pr.error_kind) == ("queued", 2, "", "")
    rev = pr.revisions.get(number=2)
    assert rev.payload["CustomerRef"] == {"value": "88", "name": "New Buyer"}
    assert {k: v for k, v in rev.payload.items() if k != "CustomerRef"} == pr.revisions.get(number=1).payload
    other.refresh_from_db()
    assert (other.state, other.revision) == ("failed", 1)


def test_nul_characters_are_refused_with_their_field_and_nothing_is_stored():
    """PostgreSQL's jsonb and text columns cannot hold NUL; QBO refuses it too (found by hypothesis)."""
    from ledgerlink.core.models import Order
    from ledgerlink.domain.payloads.edit import validate_edited_payload

    with pytest.raises(ServiceError) as err:
        validate_edited_payload("invoice", {"DocNumber": "A\x00", "Line": []})
    assert (err.value.field, err.value.message) == ("payload.DocNumber", "must not contain the NUL character (\\u0000)")
    make_world()
    with pytest.raises(ServiceError) as err:
        ingest_order(order_data(email="a\x00@example.com"))
    assert err.value.field == "email"
    assert Order.objects.count() == 0
