"""The QBO admin area (Django app "web"): views that call ``ledgerlink.domain`` directly, templates, htmx."""
