"""import_orders_csv and `ledgerlink import-orders`: good orders kept, bad rows reported by line."""

import io

import pytest
from django.core.management import call_command

from ledgerlink.cli import command_argv
from ledgerlink.core.models import ApiToken, Order, PushRequest
from ledgerlink.domain.ingest.csv_import import import_orders_csv
from tests.ledgerlink.factories import make_user, make_world

pytestmark = pytest.mark.django_db

HEADER = "order_source,external_id,number,email,sku,description,quantity,unit_price,shipping,discount,tax,customer_name,ship_country\n"

GOOD_AND_BAD = (
    HEADER
    + "Wholesale Portal,WP-1,WP-1,name2@example.com,W-100,Widget,4,12.50,9.60,,,Acme,US\n"  # line 2
    + "Wholesale Portal,WP-1,WP-1,,G-200,Gadget,1,30.00,,,,,\n"  # line 3: same order
    + "Web Shop,WEB-1,WEB-1,,W-100,Widget,1,12.50,,,,,\n"  # line 4
    + "Web Shop,WEB-2,WEB-2,,W-100,Widget,0,12.50,,,,,\n"  # line 5: quantity 0
    + "Web Shop,WEB-3,WEB-3,,W-100,Widget,1,abc,,,,,\n"  # line 6: bad price
    + "Nowhere,N-1,N-1,,W-100,Widget,1,1,,,,,\n"  # line 7: unknown source
    + ",X-1,X-1,,W-100,Widget,1,1,,,,,\n"  # line 8: no source
    + "Web Shop,WEB-4,WEB-4,a@example.com,W-100,Widget,1,1,,,,,\n"  # line 9
    + "Web Shop,WEB-4,WEB-4,b@example.com,G-200,Gadget,1,1,,,,,\n"  # line 10: conflicting email
    + "\n"  # line 11: blank
    + 'Web Shop,WEB-5,WEB-5,,W-100,"Widget, with\nnewline",2,1.25,,,,,\n'  # lines 12-13
    + "Web Shop,WEB-6,WEB-6,,W-100,Widget,1,1,,,,,,extra\n"  # line 14: too many cells
)


def test_good_orders_kept_and_every_bad_row_reported_with_line_and_reason():
    make_world()
    report = import_orders_csv(io.BytesIO(GOOD_AND_BAD.encode()), actor_label="csv:test")
    assert (report.created, report.existing) == (3, 0)
    assert report.errors == [
        (5, "quantity: must be a number greater than 0"),
        (6, "unit_price: must be a number (got 'abc')"),
        (7, "order_source: no order source 'Nowhere'"),
        (8, "order_source: is required"),
        (9, "order not imported: its rows disagree (see the lines reported)"),
        (10, "email: 'b@example.com' differs from 'a@example.com' on line 9 of the same order"),
        (14, "has 14 cells, the header has 13"),
    ]
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["WEB-1", "WEB-5", "WP-1"]
    wp1 = Order.objects.get(external_id="WP-1")
    assert (wp1.lines.count(), str(wp1.total), wp1.email, wp1.customer_name, wp1.ship_address) == (
        2, "89.60", "name2@example.com", "Acme", {"country": "US"},
    )
    assert Order.objects.get(external_id="WEB-5").lines.get().description == "Widget, with\nnewline"
    assert PushRequest.objects.count() == 3
    # Importing the same file again creates nothing.
    again = import_orders_csv(io.BytesIO(GOOD_AND_BAD.encode()), actor_label="csv:test")
    assert (again.created, again.existing, len(again.errors)) == (0, 3, 7)
    assert PushRequest.objects.count() == 3


def test_utf8_bom_is_accepted_and_non_utf8_is_refused_clearly():
    make_world()
    bom = ("\ufeff" + HEADER + "Web Shop,W1,W1,,W-100,Café crème,1,1,,,,,\n").encode("utf-8")
    report = import_orders_csv(io.BytesIO(bom))
    assert (report.created, report.errors) == (1, [])
    assert Order.objects.get().lines.get().description == "Café crème"

    latin1 = (HEADER + "Web Shop,W2,W2,,W-100,Widget,1,1,,,,,\nWeb Shop,W3,W3,,W-100,Café,1,1,,,,,\n").encode("latin-1")
    report = import_orders_csv(io.BytesIO(latin1))
    assert (report.created, report.existing) == (0, 0)
    assert report.errors == [
        (3, 'the file is not UTF-8 (byte 0xe9 at column 26); save it as "CSV UTF-8" and import it again. '
            "Nothing was imported."),
    ]
    assert Order.objects.count() == 1


def test_missing_and_unknown_columns():
    make_world()
    report = import_orders_csv(io.BytesIO(b"order_source,external_id,sku\nWeb Shop,1,W\n"))
    assert report.errors == [(1, "missing column(s): number, quantity, unit_price (header: order_source, external_id, sku)")]
    report = import_orders_csv(io.BytesIO((HEADER.strip() + ",colour\n").encode()))
    assert report.errors[0][0] == 1 and report.errors[0][1].startswith("unknown column(s): colour; known: ")


def test_progress_callback():
    make_world()
    calls = []
    import_orders_csv(io.BytesIO(GOOD_AND_BAD.encode()), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 7), (2, 7), (3, 7), (4, 7), (5, 7), (6, 7), (7, 7)]


def test_command_exit_codes_and_summary(tmp_path, capsys):
    make_world()
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "Web Shop,G1,G1,,W-100,Widget,1,1,,,,,\n", encoding="utf-8")
    call_command("import_orders", str(good), "--no-progress")
    out, err = capsys.readouterr()
    assert out == "1 created, 0 already imported, 0 bad row(s)\n"

    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD_AND_BAD, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        call_command(*command_argv(["import-orders", str(bad)]))  # as `ledgerlink import-orders`
    assert exc.value.code == 1
    out, err = capsys.readouterr()
    assert out == "3 created, 0 already imported, 7 bad row(s)\n"
    assert f"{bad}:5: quantity: must be a number greater than 0" in err
    assert "import: 100%" in err  # the tqdm bar
    assert Order.objects.get(external_id="WP-1").order_source.name == "Wholesale Portal"


def test_create_api_token_command_prints_only_the_token(capsys):
    user = make_user("alice", "operator")
    call_command(*command_argv(["create-api-token", "alice", "--name", "shop"]))
    out, _ = capsys.readouterr()
    raw = out.strip()
    assert out == raw + "\n" and raw.startswith("llk_")
    token = ApiToken.objects.get(user=user)
    assert (token.name, token.prefix) == ("shop", raw[:12])
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user 'bob'"):
        call_command("create_api_token", "bob")
