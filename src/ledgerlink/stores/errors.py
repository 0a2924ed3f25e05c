"""The one error the store mappers raise."""

from __future__ import annotations


class MappingError(ValueError):
    """A store body (or CSV row) that does not map to Ledgerlink's input.

    ``message`` says what is wrong and what was expected; ``field`` names the place in the store's
    body (a dotted path such as ``line_items[1].price``, a CSV column such as ``Lineitem quantity``,
    or ``topic``). The caller stores the delivery as failed with both.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_dict(self) -> dict:
        """``{"detail", "field"}``, the shape of Ledgerlink's 422 answers."""
        return {"detail": self.message, "field": self.field}
