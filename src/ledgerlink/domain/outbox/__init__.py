"""The outbox: push requests and the only writer of their states.

``create`` (a new request, in the order's transaction), ``actions`` (re-queue, bulk re-queue,
cancel), ``transitions`` (the state machine's primitives: pre-flight failure, parking a request
behind what it waits on, releasing it with a new revision), ``leases`` (the worker's claim, release,
lease extension and recovery), ``delivery`` (recording what a sent request came to),
``selectors`` (the current payload, the error as shown, the lists' filters).
"""
