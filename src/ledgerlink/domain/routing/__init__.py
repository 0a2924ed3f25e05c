"""Routing set-up: site areas and order sources (create, update; find an order's source)."""
