"""Store webhooks (issue 16): receive a signed Shopify or WooCommerce delivery, store it with its
outcome in the same transaction as its effect, and re-process a failed one (``deliveries``); what each
mapped intent does in Ledgerlink (``apply``). The pure mapping is ``ledgerlink.stores``."""
