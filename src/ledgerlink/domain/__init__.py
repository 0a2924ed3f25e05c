"""Domain services: verb-named, transactional functions that write an audit row (``record_audit``).

Views, the API, the worker and the CLI are thin and call these. One package per concern, in layers:
a package imports only the ones below it (import-linter contract "domain layers" in pyproject.toml).

    ingest      orders (REST, CSV), automation rules            top
    sync        full sync, CDC, webhooks
    healing     create-customer / create-item policies, requests healed by mirror changes
    outbox      push requests: the only writer of their states; filters, selectors
    payloads    build, pre-flight, edit (incl. the quick fix)
    mirror      Customer / Item store and matching
    accounts | companies | routing      (independent of each other)
    audit | errors | inputs | paging    shared helpers                     bottom

What must flow upward is an explicit call from above: a mirror change heals waiting requests because
``sync`` calls ``healing`` after it applied the change; a create policy parks a new request because
``ingest`` hands ``healing``'s policy to ``outbox.create_push_request``.
"""
