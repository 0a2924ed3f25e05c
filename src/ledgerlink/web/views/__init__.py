"""Views of the QBO admin area. Each is wrapped in ``access.role_required`` and calls the domain
services (``ledgerlink.domain``) directly for every change."""
