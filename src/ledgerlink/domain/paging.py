"""Keyset pagination, the one definition the API and the admin area share: rows ordered by ``-id``
below ``after``, no COUNT and no OFFSET, so page 1,000 costs what page 1 costs."""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass
class Page:
    rows: list
    next_after: int | None  # pass as ``after`` for the next page; None on the last page
    after: int | None


MAX_ID = 2**63 - 1  # the largest bigint: a larger "id" matches nothing (and SQLite cannot bind it)


def parse_int(value) -> int | None:
    """A positive integer from a query parameter (at most ``MAX_ID``), or None."""
    text = str(value).strip() if value is not None else ""
    if not text or len(text) > 19:
        return None
    try:
        number = int(text)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


def page_size(limit) -> int:
    """The API's ``limit``: 50 unless given, at most 500."""
    return max(1, min(int(limit or PAGE_SIZE), MAX_PAGE_SIZE))


def keyset_page(qs, after: int | None, size: int = PAGE_SIZE) -> Page:
    """Rows ordered by -id, starting below ``after``.

    ``qs`` may be a list of querysets over disjoint rows (one per state): each is read with its own
    ``ORDER BY id DESC LIMIT size+1`` (an index range scan on (state, id)) and the results merged,
    instead of one IN (...) query that sorts every matching row."""
    parts = qs if isinstance(qs, list | tuple) else [qs]
    rows = []
    for part in parts:
        if after:
            part = part.filter(id__lt=after)
        rows.extend(part.order_by("-id")[: size + 1])
    if len(parts) > 1:
        rows.sort(key=lambda row: row.id, reverse=True)
    rows = rows[: size + 1]
    next_after = rows[size - 1].id if len(rows) > size else None
    return Page(rows=rows[:size], next_after=next_after, after=after)
