"""The factories (tests/ledgerlink/factories.py) make consistent rows."""

import pytest

from ledgerlink.core import crypto
from ledgerlink.core.models import PushRequest
from tests.ledgerlink.factories import ACCESS_TOKEN, make_company, make_request, make_source


@pytest.mark.django_db
def test_factories_make_consistent_rows():
    company = make_company()
    pr = make_request(company, PushRequest.State.SUCCEEDED, source=make_source(company), revisions=2)
    assert pr.revisions.count() == 2
    assert pr.order.push_requests.get() == pr
    assert crypto.decrypt(company.access_token_enc) == ACCESS_TOKEN
