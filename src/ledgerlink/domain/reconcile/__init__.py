"""Reconciliation: per order in range, what QBO holds against what it should (``orders``)."""
