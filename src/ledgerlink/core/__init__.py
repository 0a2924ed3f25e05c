"""The Django app "core": the models (``core.models``, one module per concern), OAuth token encryption
(``crypto``), roles, structured logging and the security headers. Imports no service (import-linter)."""
