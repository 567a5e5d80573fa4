"""`manage.py backfill`: every rule of the catalogue file, the options and the exit statuses."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import execute_from_command_line

from products.models import BackfillRun, Product
from products.tests.conftest import HEADER

pytestmark = pytest.mark.django_db


def product(sku):
    return Product.objects.get(sku=sku)


class TestImport:
    def test_shipped_fixture_loads_then_reruns_unchanged(self, backfill):
        first = backfill()
        assert first.code == 0, first.err
        assert Product.objects.count() == 1000
        assert Product.objects.values("category").distinct().count() == 20
        assert "created        1,000" in first.out
        second = backfill(settings.SHOP_PRODUCTS_CSV)
        assert second.code == 0
        run = BackfillRun.objects.first()
        assert (run.created, run.updated, run.unchanged, run.rejected) == (0, 0, 1000, 0)
        assert "rows/s" in second.out and "elapsed" in second.out

    def test_a_changed_row_is_updated_and_the_others_left_alone(self, backfill, csv_file):
        backfill(csv_file(HEADER + "A-1,Anvil,,Tools,10.00\nB-1,Bucket,,Garden,2.50\n"))
        before = {p.sku: p.updated_at for p in Product.objects.all()}
        result = backfill(csv_file(HEADER + "A-1,Anvil,,Tools,12.00\nB-1,Bucket,,Garden,2.5\n"))
        assert result.code == 0
        run = BackfillRun.objects.first()
        assert (run.created, run.updated, run.unchanged) == (0, 1, 1)
        assert product("A-1").price == Decimal("12.00")
        assert product("A-1").updated_at > before["A-1"]
        assert product("B-1").updated_at == before["B-1"]

    def test_an_unclosed_quote_is_named_with_the_lines_it_swallowed(self, backfill, csv_file):
        rows = "".join(f"R-{n},Row {n},1.00\n" for n in range(50))
        result = backfill(csv_file('sku,name,price\nUQ-9,"open,1.00\n' + rows))

        assert result.code == 1
        assert result.rejected_lines == [
            "line 2: expected 3 fields, found 2; this record runs over lines 2 to 52: a quote"
            " opened on line 2 is probably never closed, and those lines were read as part"
            " of one field"
        ]
        assert not Product.objects.exists()

    def test_bom_crlf_quotes_newlines_and_unicode(self, backfill, csv_file):
        content = (
            "\ufeffsku,name,description,category,price\r\n"
            'Q-1,"Chair, oak","Line one\r\nline ""two""",Furniture,49.99\r\n'
            "Q-2,Crème brûlée torch 🔥,Ünïcödé,Küche,5\r\n"
            "Q-3,Broken,,,-1\r\n"
        )
        result = backfill(csv_file(content))
        assert result.code == 1
        chair = product("Q-1")
        assert chair.name == "Chair, oak"
        assert chair.description == 'Line one\r\nline "two"'
        assert product("Q-2").name == "Crème brûlée torch 🔥"
        assert product("Q-2").category == "Küche"
        # Q-3 starts on the 5th physical line: the quoted newline counts.
        assert result.rejected_lines == ["line 5: negative price -1 (must be 0 or more)"]

    def test_old_mac_line_endings(self, backfill, csv_file):
        assert backfill(csv_file("sku,name,price\rR-1,Ruler,1.00\rR-2,Rope,2\r")).code == 0
        assert Product.objects.count() == 2

    def test_values_are_trimmed_and_header_names_ignore_case_and_spaces(self, backfill, csv_file):
        result = backfill(
            csv_file(" SKU , Name ,PRICE,  Category\n  T-1 ,  Tent  , 99.00 , Out \n")
        )
        assert result.code == 0
        tent = product("T-1")
        assert (tent.name, tent.price, tent.category, tent.description) == (
            "Tent",
            Decimal("99.00"),
            "Out",
            "",
        )

    def test_unknown_columns_are_ignored_with_one_warning(self, backfill, csv_file):
        result = backfill(csv_file("sku,colour,name,price,weight\nU-1,red,Umbrella,9.99,1kg\n"))
        assert result.code == 0
        assert result.err.count("warning:") == 1
        assert "ignored unknown columns: colour, weight" in result.err
        assert product("U-1").name == "Umbrella"
        assert BackfillRun.objects.first().warnings == ["ignored unknown columns: colour, weight"]


class TestRejectedRows:
    @pytest.mark.parametrize(
        ("price", "reason"),
        [
            ("-1.00", "negative price -1.00 (must be 0 or more)"),
            ("1.234", "price 1.234 has more than 2 decimal places"),
            ("abc", "price 'abc' is not a plain decimal number like 12.50"),
            ("", "missing price"),
            ("1e5", "price '1e5' is not a plain decimal number like 12.50"),
            ("NaN", "price 'NaN' is not a plain decimal number like 12.50"),
            ("Infinity", "price 'Infinity' is not a plain decimal number like 12.50"),
            ('"1,234.00"', "price 1,234.00 has a thousands separator"),
            ("1 234.00", "price 1 234.00 has a thousands separator"),
            ("$5", "price '$5' is not a plain decimal number"),
            ("12345678901.00", "price 12345678901.00 is too large"),
        ],
    )
    def test_bad_prices(self, backfill, csv_file, price, reason):
        result = backfill(csv_file(f"sku,name,price\nOK-1,Fine,1.00\nBAD-1,Bad,{price}\n"))
        assert result.code == 1
        assert len(result.rejected_lines) == 1
        assert result.rejected_lines[0].startswith(f"line 3: {reason}")
        assert list(Product.objects.values_list("sku", flat=True)) == ["OK-1"]

    @pytest.mark.parametrize("price", ["0", "0.5", "12.50", "9999999999.99", "007.10"])
    def test_good_prices(self, backfill, csv_file, price):
        assert backfill(csv_file(f"sku,name,price\nP-1,Pen,{price}\n")).code == 0
        assert product("P-1").price == Decimal(price)

    def test_missing_sku_name_too_long_and_later_duplicates(self, backfill, csv_file):
        content = (
            "sku,name,price,category\n"
            "M-001,Mug,3.00,\n"
            ",No sku,1.00,\n"
            "N-1,,1.00,\n"
            f"{'S' * 65},Long sku,1.00,\n"
            f"L-1,{'n' * 256},1.00,\n"
            f"C-1,Cat,1.00,{'c' * 101}\n"
            "M-001,Mug again,4.00,\n"
            "F-1,Few fields\n"
        )
        result = backfill(csv_file(content))
        assert result.code == 1
        assert result.rejected_lines == [
            "line 3: missing sku",
            "line 4: missing name",
            "line 5: sku is longer than 64 characters (65)",
            "line 6: name is longer than 255 characters (256)",
            "line 7: category is longer than 100 characters (101)",
            "line 9: expected 4 fields, found 2",
            "line 8: duplicate sku M-001 (first seen on line 2)",
        ]
        assert product("M-001").name == "Mug"
        run = BackfillRun.objects.first()
        assert run.status == BackfillRun.Status.PARTIAL
        assert (run.rows, run.created, run.rejected) == (8, 1, 7)
        assert [item["line"] for item in run.rejected_lines] == [3, 4, 5, 6, 7, 8, 9]
        assert "the valid rows were imported" in result.err

    def test_stored_rejections_are_capped_but_all_counted(self, backfill, csv_file, monkeypatch):
        monkeypatch.setattr(BackfillRun, "MAX_STORED_REJECTIONS", 5)
        rows = "".join(f"X-{n},Bad,-{n}\n" for n in range(12))
        result = backfill(csv_file("sku,name,price\n" + rows))
        run = BackfillRun.objects.first()
        assert run.rejected == 12 and len(run.rejected_lines) == 5
        assert len(result.rejected_lines) == 12  # the command still prints each one

    def test_strict_writes_nothing(self, backfill, csv_file):
        result = backfill(csv_file("sku,name,price\nA-1,Ok,1\nB-1,Bad,x\n"), "--strict")
        assert result.code == 1
        assert "--strict: 1 row(s) rejected, nothing was written" in result.err
        assert not Product.objects.exists()
        assert BackfillRun.objects.first().status == BackfillRun.Status.ABORTED

    def test_strict_with_a_clean_file_imports(self, backfill, csv_file):
        assert backfill(csv_file("sku,name,price\nA-1,Ok,1\n"), "--strict").code == 0
        assert Product.objects.count() == 1

    def test_dry_run_reports_and_writes_nothing(self, backfill, csv_file):
        backfill(csv_file("sku,name,price\nA-1,Old,1\nB-1,Same,2\n"))
        result = backfill(
            csv_file("sku,name,price\nA-1,New,1\nB-1,Same,2\nC-1,Extra,3\nD-1,Bad,x\n"),
            "--dry-run",
        )
        assert result.code == 1
        assert "dry run: nothing was written" in result.out
        assert product("A-1").name == "Old"
        assert not Product.objects.filter(sku="C-1").exists()
        run = BackfillRun.objects.first()
        assert run.dry_run
        assert (run.created, run.updated, run.unchanged, run.rejected) == (1, 1, 1, 1)


class TestUnusableFiles:
    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "the file is empty"),
            (b"\xef\xbb\xbf\r\n  \n", "the file is empty"),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "the file is binary"),
            ("sku,name,price\n".encode("utf-16"), "UTF-16"),
            ("sku,name,price\nA-1,Café,1\n".encode("latin-1"), "not UTF-8"),
            (b"sku,name\nA-1,Anvil\n", "missing required column price"),
            (b"A-1,Anvil,10.00\n", "missing required columns sku, name, price"),
            (b"sku,SKU,name,price\n", "names the column 'sku' twice"),
        ],
    )
    def test_is_refused_with_one_message_and_nothing_written(
        self, backfill, csv_file, content, message
    ):
        result = backfill(csv_file(content))
        assert result.code == 2
        assert message in result.err
        assert "Traceback" not in result.err
        assert not Product.objects.exists()
        run = BackfillRun.objects.first()
        assert run.status == BackfillRun.Status.FAILED and message in run.error

    def test_not_utf8_deep_in_the_file_writes_nothing(self, backfill, csv_file):
        good = "".join(f"G-{n},Good,1.00\n" for n in range(5000)).encode()
        result = backfill(csv_file(b"sku,name,price\n" + good + b"Z-1,Caf\xe9,1\n"))
        assert result.code == 2 and "not UTF-8" in result.err
        assert not Product.objects.exists()

    def test_header_only_is_an_empty_import(self, backfill, csv_file):
        result = backfill(csv_file("sku,name,price\n"))
        assert result.code == 0
        assert BackfillRun.objects.first().rows == 0

    def test_missing_file_and_directory(self, backfill, tmp_path):
        missing = backfill(tmp_path / "nope.csv")
        assert missing.code == 2 and "no such file" in missing.err
        assert backfill(tmp_path).code == 2

    def test_bad_batch_size(self, backfill):
        assert backfill("--batch-size", "0").code == 2

    def test_the_command_line_prints_one_line_and_exits_2(self, db, tmp_path, capsys):
        with pytest.raises(SystemExit) as exit_info:
            execute_from_command_line(["manage.py", "backfill", str(tmp_path / "nope.csv")])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.strip().startswith("CommandError: cannot import") and "Traceback" not in err


class TestRuns:
    def test_another_run_holding_the_lock_refuses(self, backfill, held_lock):
        result = backfill()
        assert result.code == 3 and "another backfill is running" in result.err
        assert not Product.objects.exists()

    def test_a_stale_running_record_is_marked_failed_at_the_next_start(self, backfill, csv_file):
        stale = BackfillRun.objects.create(source="killed.csv", status=BackfillRun.Status.RUNNING)
        assert backfill(csv_file("sku,name,price\nA-1,Ok,1\n")).code == 0
        stale.refresh_from_db()
        assert stale.status == BackfillRun.Status.FAILED and "interrupted" in stale.error
        assert stale.finished_at is not None

    def test_batches_smaller_than_the_file(self, backfill, csv_file):
        rows = "".join(f"B-{n},Box {n},{n}.00\n" for n in range(25))
        assert backfill(csv_file("sku,name,price\n" + rows), "--batch-size", "4").code == 0
        assert Product.objects.count() == 25


class TestHostileCells:
    def test_a_description_over_1_mib_rejects_its_row_only(self, backfill, csv_file):
        long = "d" * (1024 * 1024 + 1)
        content = f"sku,name,description,price\nA-1,Ok,short,1\nB-1,Long,{long},2\nC-1,Ok,,3\n"

        result = backfill(csv_file(content))

        assert result.code == 1
        assert result.rejected_lines == [
            "line 3: description is longer than 1,048,576 characters (1,048,577)"
        ]
        assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "C-1"]

    def test_a_description_of_exactly_1_mib_is_imported(self, backfill, csv_file):
        content = f"sku,name,description,price\nA-1,Ok,{'d' * 1024 * 1024},1\n"

        assert backfill(csv_file(content)).code == 0
        assert len(product("A-1").description) == 1024 * 1024

    def test_a_field_past_the_parsers_limit_stops_with_one_message(self, backfill, csv_file):
        content = 'sku,name,price\nA-1,Ok,1\nB-1,"' + "x" * (16 * 1024 * 1024 + 1) + '",2\n'

        result = backfill(csv_file(content))

        assert result.code == 2
        assert "longer than 16,777,216 characters" in result.err
        assert not Product.objects.exists()

    @pytest.mark.parametrize("mark", ["\ufeff", "\u200b", "\u200e", "\u2060", "\u00a0"])
    def test_an_invisible_character_around_a_value_is_trimmed(self, backfill, csv_file, mark):
        content = f"sku,name,price\n{mark}Z-1,{mark}Zed{mark},1\nZ-1,Zed,1\n"

        result = backfill(csv_file(content))

        assert product("Z-1").name == "Zed"
        # One product, not two that look alike: the second row is its duplicate.
        assert result.rejected_lines == ["line 3: duplicate sku Z-1 (first seen on line 2)"]

    def test_an_invisible_character_inside_a_sku_rejects_the_row(self, backfill, csv_file):
        result = backfill(csv_file("sku,name,price\nZ\u200b-1,Zed,1\n"))

        assert result.rejected_lines == [
            "line 2: sku 'Z\\u200b-1' contains an invisible character (U+200B)"
        ]
        assert not Product.objects.exists()


class TestTheOldServicesCatalogueFile:
    """`Name,Metal Type,Price,Stone Type,Customizable?`: no sku, prices as a shop writes them."""

    HEADER = "Name,Metal Type,Price,Stone Type,Customizable?\n"

    def test_the_shipped_old_catalogue_loads_then_reruns_unchanged(self, backfill):
        path = settings.BASE_DIR / "fixtures" / "old-catalogue.csv"

        first = backfill(path)
        again = backfill(path)

        assert first.code == 0 and again.code == 0, first.err
        runs = BackfillRun.objects.order_by("id")
        assert [(run.created, run.updated, run.unchanged) for run in runs] == [(6, 0, 0), (0, 0, 6)]
        ring = Product.objects.get(name="Solitaire Engagement Ring", metal_type="Platinum")
        assert (ring.price, ring.stone_type, ring.customizable) == (
            Decimal("1250.00"),
            "Diamond",
            True,
        )
        assert Product.objects.get(name="Pearl Pendant").customizable is None
        assert Product.objects.get(name="Signet Ring").stone_type == ""

    def test_rows_that_differ_only_by_metal_are_two_products_with_stable_skus(
        self, backfill, csv_file
    ):
        content = self.HEADER + "Band,Gold,$10,,No\nBand,Silver,$10,,No\n"

        backfill(csv_file(content))
        skus = dict(Product.objects.values_list("metal_type", "sku"))
        # The same pieces written with other spacing and case are the same products.
        backfill(csv_file(content.replace("Band,Gold", " band , GOLD")))

        assert len(set(skus.values())) == 2
        assert all(sku.startswith("OLD-") and len(sku) <= 64 for sku in skus.values())
        assert dict(Product.objects.values_list("sku", "metal_type")) == {
            skus["Gold"]: "GOLD",  # updated to the file's new spelling
            skus["Silver"]: "Silver",
        }

    def test_a_changed_price_updates_the_same_product(self, backfill, csv_file):
        backfill(csv_file(self.HEADER + "Band,Gold,$10,,No\n"))
        result = backfill(csv_file(self.HEADER + "Band,Gold,$12.50,,Yes\n"))

        assert result.code == 0
        band = Product.objects.get()
        assert (band.price, band.customizable) == (Decimal("12.50"), True)

    def test_the_header_is_recognised_in_any_case_and_order(self, backfill, csv_file):
        content = "price, NAME ,customizable?,STONE TYPE,metal type\n$5,Chain,no,,Steel\n"

        assert backfill(csv_file(content)).code == 0
        assert Product.objects.get().metal_type == "Steel"

    @pytest.mark.parametrize(
        ("price", "reason"),
        [
            ('"$1,25.00"', "not a plain decimal"),
            ("$12.345", "more than 2 decimal places"),
            ("-$5", "not a plain decimal"),
            ("$", "missing price"),
            ("USD 5", "not a plain decimal"),
            ('"$1,000,000,000,000"', "too large"),
        ],
    )
    def test_bad_prices_are_rejected_with_their_line(self, backfill, csv_file, price, reason):
        content = self.HEADER + "Good,Gold,$1,,No\n" + f"Bad,Gold,{price},,No\n"

        result = backfill(csv_file(content))

        assert result.code == 1
        (rejected,) = result.rejected_lines
        assert rejected.startswith("line 3: ") and reason in rejected
        assert Product.objects.get().name == "Good"

    def test_a_customizable_that_is_not_yes_or_no_is_rejected(self, backfill, csv_file):
        result = backfill(csv_file(self.HEADER + "Ring,Gold,$1,,maybe\n"))

        assert result.rejected_lines == ["line 2: customizable? must be yes or no, not 'maybe'"]

    def test_the_same_piece_twice_is_a_duplicate_of_its_first_line(self, backfill, csv_file):
        content = self.HEADER + "Ring,Gold,$1,Ruby,No\nNecklace,Gold,$2,,No\nring,gold,$3,ruby,No\n"

        result = backfill(csv_file(content))

        assert result.rejected_lines == [
            "line 4: duplicate product: the same name, metal type and stone type as line 2"
        ]
        assert Product.objects.get(name="Ring").price == Decimal("1.00")

    def test_dollars_and_thousands_stay_refused_in_the_native_format(self, backfill, csv_file):
        result = backfill(csv_file('sku,name,price\nA-1,Anvil,"$1,250.00"\n'))

        assert result.code == 1
        assert not Product.objects.exists()


def test_a_load_larger_than_the_catalogue_counts_new_changed_and_unchanged(backfill, csv_file):
    # More rows than products: on PostgreSQL the indexes are rebuilt after the rows.
    Product.objects.create(sku="K-1", name="Kept", price="1.00")
    Product.objects.create(sku="C-1", name="Changed", price="1.00")
    content = "sku,name,price\nK-1,Kept,1.00\nC-1,Changed now,1.00\nN-1,New,2\nN-2,New too,3\n"

    assert backfill(csv_file(content)).code == 0

    run = BackfillRun.objects.get()
    assert (run.created, run.updated, run.unchanged) == (2, 1, 1)
    assert product("C-1").name == "Changed now"
    assert Product.objects.filter(price__gte=2).count() == 2  # the price index is back in use


def test_if_empty_loads_the_file_into_an_empty_catalogue(backfill, csv_file):
    outcome = backfill(csv_file("sku,name,price\nN-1,New,2\n"), "--if-empty")

    assert outcome.code == 0
    assert list(Product.objects.values_list("sku", flat=True)) == ["N-1"]


def test_if_empty_leaves_a_catalogue_with_products_as_staff_left_it(backfill, csv_file):
    Product.objects.create(sku="N-1", name="Renamed by staff", price="9.99")

    outcome = backfill(csv_file("sku,name,price\nN-1,New,2\nN-2,Other,3\n"), "--if-empty")

    assert outcome.code == 0
    assert "already has products" in outcome.out and "not loaded (--if-empty)" in outcome.out
    assert list(Product.objects.values_list("sku", "name", "price")) == [
        ("N-1", "Renamed by staff", Decimal("9.99"))
    ]
    assert not BackfillRun.objects.exists()


def test_a_run_from_the_command_records_no_request_id(backfill):
    backfill()

    assert BackfillRun.objects.get().request_id is None


class TestActiveColumn:
    """The optional `active` column: true/false/1/0/yes/no; empty keeps a product's own."""

    def test_it_discontinues_brings_back_and_keeps_products(self, backfill, csv_file):
        Product.objects.create(sku="R-1", name="Retired", price="1.00", active=False)
        Product.objects.create(sku="A-1", name="Active", price="1.00")
        Product.objects.create(sku="B-1", name="Back", price="1.00", active=False)
        content = (
            "sku,name,price,active\n"
            "R-1,Retired,1.00,\n"  # empty: stays discontinued
            "A-1,Active,1.00,No\n"
            "B-1,Back,1.00,TRUE\n"
            "N-1,New,1.00,\n"  # empty: a new product is on sale
            "N-2,New retired,1.00,0\n"
        )

        result = backfill(csv_file(content))

        assert result.code == 0
        assert dict(Product.objects.values_list("sku", "active")) == {
            "R-1": False,
            "A-1": False,
            "B-1": True,
            "N-1": True,
            "N-2": False,
        }
        run = BackfillRun.objects.get()
        assert (run.created, run.updated, run.unchanged) == (2, 2, 1)

        backfill(csv_file(content))
        rerun = BackfillRun.objects.latest("id")
        assert (rerun.created, rerun.updated, rerun.unchanged) == (0, 0, 5)

    def test_any_other_value_rejects_its_row(self, backfill, csv_file):
        result = backfill(csv_file("sku,name,price,active\nA-1,Anvil,1,retired\n"))

        assert result.code == 1
        assert result.rejected_lines == [
            "line 2: active must be true or false (or yes/no, 1/0), not 'retired'"
        ]
