"""The CSV import streams (issue 17) and reads on past what the csv module cannot read (issue 18):
a field over 131,072 characters and an unterminated quote are reported at their line, the rest is
imported; an order's rows may be anywhere in the file; a 200,000-row file in bounded memory."""

import io
import tracemalloc

import pytest

from ledgerlink.core.models import Order, OrderLine, PushRequest
from ledgerlink.domain.ingest.csv_import import UNTERMINATED, import_orders_csv
from tests.ledgerlink.factories import make_world

pytestmark = pytest.mark.django_db

HEADER = "order_source,external_id,number,email,sku,description,quantity,unit_price\n"


def _row(ext: str, description: str = "Widget", quantity: str = "1") -> str:
    return f"Web Shop,{ext},{ext},,W-100,{description},{quantity},12.50\n"


def test_a_field_over_131072_characters_is_reported_at_its_line_and_the_rest_imported():
    make_world()
    huge = "x" * 131_073
    text = HEADER + _row("W-1") + _row("W-2", description=huge) + _row("W-3") + _row("W-4", description=f'"{huge}"')
    text += _row("W-5")
    report = import_orders_csv(io.BytesIO(text.encode()))
    assert report.errors == [
        (3, "has a field longer than 131,072 characters"),
        (5, "has a field longer than 131,072 characters"),
    ]
    assert (report.created, report.existing) == (3, 0)
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["W-1", "W-3", "W-5"]


def test_an_unterminated_quote_is_reported_at_its_line_and_the_rows_after_it_imported():
    make_world()
    text = (HEADER + _row("W-1")
            + 'Web Shop,W-2,W-2,,W-100,"Widget 12,1,12.50\n'  # line 3: the quote never closes
            + _row("W-3") + _row("W-4")
            + 'Web Shop,W-5,W-5,,W-100,Widget 12",1,12.50\n'  # line 6: its quote would close line 3's
            + _row("W-6"))
    report = import_orders_csv(io.BytesIO(text.encode()))
    assert report.errors == [(3, UNTERMINATED)]
    assert (report.created, report.existing) == (5, 0)
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["W-1", "W-3", "W-4", "W-5", "W-6"]
    assert Order.objects.get(external_id="W-5").lines.get().description == 'Widget 12"'
    # With no quote after it, the quote reaches the end of the file: the same report.
    report = import_orders_csv(io.BytesIO((HEADER + 'Web Shop,W-7,W-7,,W-100,"Widget,1,12.50\n' + _row("W-8")).encode()))
    assert (report.errors, report.created) == ([(2, UNTERMINATED)], 1)
    assert UNTERMINATED.startswith('a quote (") opened on this line is never closed')


def test_a_quoted_line_break_is_still_a_line_break_and_an_unterminated_quote_at_the_end_is_reported():
    make_world()
    text = (HEADER + 'Web Shop,W-1,W-1,,W-100,"Widget, with\nnewline",2,1.25\n'
            + _row("W-2") + 'Web Shop,W-3,W-3,,W-100,"Widget,1,12.50\n' + _row("W-4")[:-1])
    report = import_orders_csv(io.BytesIO(text.encode()))
    assert report.errors == [(5, UNTERMINATED)]
    assert Order.objects.get(external_id="W-1").lines.get().description == "Widget, with\nnewline"
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["W-1", "W-2", "W-4"]


def test_a_broken_line_keeps_its_order_out_and_an_orders_rows_may_be_apart():
    make_world()
    text = (HEADER + _row("A") + _row("B") + _row("A", description="Gadget", quantity="2")  # A's rows apart
            + 'Web Shop,C,C,,W-100,"Widget,1,12.50\n' + _row("C") + _row("D") + _row("B", quantity="3"))
    calls = []
    report = import_orders_csv(io.BytesIO(text.encode()), progress=lambda done, total: calls.append((done, total)))
    assert report.errors == [(5, UNTERMINATED), (5, "order not imported: its line 5 could not be read")]
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["A", "B", "D"]
    assert list(Order.objects.get(external_id="A").lines.values_list("description", "quantity")) == [
        ("Widget", 1), ("Gadget", 2)]
    assert Order.objects.get(external_id="B").lines.count() == 2
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_a_pipe_and_a_text_stream_are_read_too():
    make_world()

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.data.readinto(b)

    report = import_orders_csv(io.BufferedReader(Pipe((HEADER + _row("P-1")).encode())))
    assert (report.created, report.errors) == (1, [])
    report = import_orders_csv(io.StringIO(HEADER + _row("P-2")))
    assert (report.created, report.errors) == (1, [])


ROWS = 200_000
LINES_PER_ORDER = 50  # 4,000 orders
MEMORY_BOUND = 64 * 1024 * 1024  # bytes traced at the peak: 25-45 MB measured (reading it whole: ~ 300 MB)


def _big_file(path) -> None:
    """ROWS rows, orders of LINES_PER_ORDER lines. Every 20th order is from the Web Shop, and every
    20th of those has a bad line (quantity 0); the others name a closed store (refused as a whole,
    cheaply: tracemalloc makes every allocation slow, and the rows matter, not the orders)."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("order_source,external_id,number,email,sku,description,quantity,unit_price,shipping\n")
        for n in range(ROWS):
            order, line = divmod(n, LINES_PER_ORDER)
            source = "Web Shop" if order % 20 == 0 else "Closed Store"
            bad = order % 400 == 0 and line == 3
            out.write(f"{source},BIG-{order:05d},BIG-{order:05d},buyer{order % 50}@example.com,W-100,"
                      f"Widget {line},{0 if bad else 1 + line % 3},12.50,{'4.50' if line == 0 else ''}\n")


@pytest.mark.slow
def test_a_200000_row_file_is_imported_in_bounded_memory(tmp_path):
    make_world()
    path = tmp_path / "big.csv"
    _big_file(path)
    assert path.stat().st_size > 14_000_000
    tracemalloc.start()
    try:
        report = import_orders_csv(path, actor_label="csv:big.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    orders = ROWS // LINES_PER_ORDER
    good = [n for n in range(orders) if n % 20 == 0 and n % 400 != 0]
    expected_errors = [
        (2 + n * LINES_PER_ORDER + (3 if n % 400 == 0 else 0),
         "quantity: must be a number greater than 0" if n % 400 == 0 else "order_source: no order source 'Closed Store'")
        for n in range(orders) if n not in set(good)
    ]
    assert report.errors == expected_errors
    assert (report.created, report.existing, report.orders) == (len(good), 0, orders)
    assert sorted(Order.objects.values_list("external_id", flat=True)) == [f"BIG-{n:05d}" for n in good]
    assert PushRequest.objects.count() == len(good)
    assert OrderLine.objects.count() == len(good) * LINES_PER_ORDER
    print(f"peak {peak / 1e6:.1f} MB")
    assert peak < MEMORY_BOUND, f"peak {peak / 1e6:.1f} MB"
