"""Ledgerlink: orders to QuickBooks Online."""
