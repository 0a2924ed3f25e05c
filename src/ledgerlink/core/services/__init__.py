"""Domain services: verb-named, transactional functions that write an audit row.

Views, the API and the CLI are thin and call these. Modules:
  audit      record_audit
  errors     ServiceError (what to fix, which field)
  orders     ingest_order, import_orders_csv
  automation apply_rules, run_rules_on_order
  payloads   build_payload, preflight_payload, validate_edited_payload
  requests   create_push_request, requeue_request, bulk_requeue, cancel_request
  companies  connect_company, refresh_tokens, ensure_fresh_token
  mirror     sync_company, apply_customer, match_customer_by_email
"""
