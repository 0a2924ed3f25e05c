"""A rule for the orders that fail the way a request failed: email missing, invalid, or no customer's
(issue 18: "Make this a rule" overwrote a real buyer's email on the next order)."""

import pytest

from ledgerlink.core.models import AutomationRule, PushRequest
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.automation import create_rule, propose_rule_for_request
from ledgerlink.domain.ingest.orders import ingest_order, ingest_orders
from tests.ledgerlink.factories import make_world, order_data

pytestmark = pytest.mark.django_db


def test_unmatched_email_rule_keeps_a_real_buyers_email():
    w = make_world()
    create_rule(name="Portal strangers to one account",
                conditions={"order_source": w.portal.pk, "email": "unmatched"},
                actions={"set_email": "tradeshow@example.com"}, actor_label="admin")
    results = ingest_orders([
        order_data(external_id="WP-1", email="Name2@Example.com"),  # Acme Tools' (the mirror has it)
        order_data(external_id="WP-2", email="stranger@elsewhere.example"),
        order_data(external_id="WP-3", email=""),
        order_data(external_id="WP-4", email="bad@@x.example"),
    ], actor_label="test")
    emails = {r.order.external_id: r.order.email for r in results}
    assert emails == {"WP-1": "Name2@Example.com", "WP-2": "tradeshow@example.com", "WP-3": "",
                      "WP-4": "bad@@x.example"}
    # The single path (a batch of one) answers the same.
    order, _ = ingest_order(order_data(external_id="WP-5", email="name2@example.com"))
    assert order.email == "name2@example.com" and order.rule_log.count() == 0


def test_proposal_fits_the_failure_and_needs_a_valid_email():
    w = make_world()
    failed, _ = ingest_order(order_data(external_id="WP-9", email="stranger@elsewhere.example"))
    pr = failed.push_requests.get()
    assert pr.error_kind == "customer_ref_required"
    proposal = propose_rule_for_request(pr, "tradeshow@example.com")
    assert proposal["conditions"] == {"order_source": w.portal.pk, "email": "unmatched"}
    assert proposal["actions"] == {"set_email": "tradeshow@example.com"}
    with pytest.raises(ServiceError) as exc:
        propose_rule_for_request(pr, "bad@@x.example")
    assert (exc.value.field, exc.value.message) == ("email", "a rule can set only a valid email address")
    no_email, _ = ingest_order(order_data(external_id="WP-10", email=""))
    assert propose_rule_for_request(no_email.push_requests.get(), "tradeshow@example.com")["conditions"] == {
        "order_source": w.portal.pk, "email": "missing"}
    bad, _ = ingest_order(order_data(external_id="WP-11", email="bad@@x.example"))
    assert bad.push_requests.get().error_kind == "invalid_email"
    assert propose_rule_for_request(bad.push_requests.get(), "tradeshow@example.com")["conditions"] == {
        "order_source": w.portal.pk, "email": "invalid"}
    assert AutomationRule.objects.count() == 0
    assert PushRequest.objects.filter(state="failed").count() == 3
