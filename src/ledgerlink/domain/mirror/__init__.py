"""The local mirror of QBO's Customers and Items: the store (records in, rows out) and matching
(a customer by email, an item by SKU). Fetching from QBO is ``sync``'s."""
