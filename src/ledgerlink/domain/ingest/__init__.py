"""Ingest: orders from the REST API and CSV files (``orders``, ``csv_import``) and the Order
Automation rules applied to them (``automation``). The top domain layer: it wires the create
policies of ``healing`` into ``outbox.create_push_request``."""
