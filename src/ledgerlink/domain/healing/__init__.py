"""Healing: requests that wait for something the mirror does not have yet, and what completes them.

``customers`` (the create-customer policy and button, CustomerRef filled in when the customer
exists), ``items`` (the create-item policies, documents rebuilt when their items exist, failed
invalid_reference requests re-queued), ``policies`` (the hook ingest gives the outbox),
``events`` (the entry points sync and the worker call).
"""
