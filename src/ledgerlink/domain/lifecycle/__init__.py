"""An order after its document: change (``changes``), cancel (``cancel``), payments (``payments``) and
refunds (``refunds``), each one or two follow-up push requests in the outbox (``outbox.follow_ups``)
that wait for the document as a document waits for its customer; ``documents`` (the order's document
request, its balance), ``inputs`` (money and dates as the API takes them), ``timeline`` (the order's
page)."""
