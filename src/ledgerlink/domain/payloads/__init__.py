"""Payloads: ``build`` (an order to a QBO document), ``preflight`` (what QBO would refuse, without a
call), ``edit`` (validation of edits, the quick fix, bulk patches)."""
