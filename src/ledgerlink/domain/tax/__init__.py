"""Sales tax: the Company's tax world as the payload builder needs it (``world``: its tax model, the
mirrored TaxCodes, the tax mapping and its suggestions), the per-line tax fields of a QBO sales form
for each tax model (``lines``: orders now, refunds later), and the TaxCode mirror (``codes``).
See docs/tax.md."""
