"""Keeping the mirror fresh from QBO: the full sync (``full``), CDC (``cdc``) and webhooks
(``webhooks``). Each applies what changed to the mirror and then heals what waits on it."""
