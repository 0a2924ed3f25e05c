"""The QuickBooks Online client: HTTP, OAuth 2.0, QBO's wire format and fault classification.

Imports nothing of Ledgerlink outside this package and no Django models (an import-linter contract):
``client`` (``QBOClient``, given a token provider), ``oauth`` (discovery, authorization code, token
endpoint, revocation), ``errors`` (``ERROR_KINDS`` and ``classify``), ``wire`` (requestid, PrivateNote
marker, entity names, query quoting).
"""
