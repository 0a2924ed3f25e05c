"""A CSV with a million rows (``make chaos``; ``make test`` has the 10,000-row version in
tests/ledgerlink/system/test_fuzz_inputs.py). Generated on the fly:

* 999 orders of 1,001 rows each (one line over the 1,000-line limit): each refused with its line;
* 300 good orders of 5 rows;
* 100 broken rows: a zero quantity, a price "12,50€", a surplus cell, a missing order source.

The good orders are imported with all their lines, every bad order is reported with a line number and
a reason, nothing else is stored; time and peak memory go to test-artifacts/chaos/csv-million.json.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest

from ledgerlink.core.models import Order, OrderLine, PushRequest
from ledgerlink.domain.ingest.csv_import import import_orders_csv
from ledgerlink.domain.ingest.orders import MAX_LINES
from tests.ledgerlink.factories import make_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "chaos"
HEADER = "order_source,external_id,number,email,sku,description,quantity,unit_price\n"
BIG, GOOD, BROKEN = 999, 300, 100


def write_csv(path: Path) -> dict:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for n in range(BIG):
            for k in range(MAX_LINES + 1):
                f.write(f"Wholesale Portal,BIG-{n},BIG-{n},name2@example.com,W-100,Widget {k},1,1.00\n")
                rows += 1
            if n % 10 == 0:  # good orders spread through the file
                for g in range(n // 10 * 3, n // 10 * 3 + 3):
                    for k in range(5):
                        f.write(f"Wholesale Portal,OK-{g},OK-{g},name2@example.com,W-100,Gadget {k},2,3.25\n")
                        rows += 1
        for b in range(BROKEN):
            kind = b % 4
            qty, price, source, extra = "1", "1.00", "Wholesale Portal", ""
            if kind == 0:
                qty = "0"
            elif kind == 1:
                price = '"12,50€"'
            elif kind == 2:
                extra = ",surplus"
            else:
                source = ""
            f.write(f"{source},BAD-{b},BAD-{b},,W-100,Broken,{qty},{price}{extra}\n")
            rows += 1
    return {"rows": rows, "bytes": path.stat().st_size}


def test_a_million_row_csv_imports_the_good_reports_the_bad_and_stays_bounded(tmp_path):
    make_world()
    path = tmp_path / "million.csv"
    t0 = time.monotonic()
    info = write_csv(path)
    assert info["rows"] >= 1_000_000
    generated = time.monotonic() - t0
    t0 = time.monotonic()
    report = import_orders_csv(path, actor_label="csv:million")
    seconds = time.monotonic() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reasons = {}
    for _, reason in report.errors:
        key = reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "csv-million.json").write_text(json.dumps({
        **info, "generate_seconds": round(generated, 1), "import_seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_mb), "created": report.created, "errors": len(report.errors),
        "errors_by_field": reasons, "orders_seen": report.orders,
    }, indent=2))
    good = sum(1 for n in range(BIG) if n % 10 == 0) * 3
    assert report.created == good
    assert Order.objects.count() == PushRequest.objects.count() == good
    assert OrderLine.objects.count() == good * 5
    too_many = [e for e in report.errors if e[1] == f"lines: must have at most {MAX_LINES} lines"]
    assert len(too_many) == BIG
    assert all(line > 1 for line, _ in report.errors)
    # every broken row is reported (the surplus-cell and missing-source rows by themselves)
    assert len(report.errors) == BIG + BROKEN
    assert peak_mb < 4096
