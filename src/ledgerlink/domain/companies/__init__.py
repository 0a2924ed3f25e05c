"""Companies (QBO realms): connect (one upsert for the CLI and the web app), disconnect, OAuth tokens
(handed out under a row lock, refreshed, re-encrypted), the QBO client wired to them (``client_for``),
status and health (paused, needs reconnect, 429 pause, last success)."""
