"""The CSV reader (products/backfill/reader.py): rows in, clean fields or rejection reasons out.

No database: the reader checks each cell by the field rules of `products.services`, which need
none. A price comes out as its checked text (the database reads it as a number).
"""

import io

import pytest

from products.backfill.reader import MAX_FIELD, SCREENED_ROWS, ProductCsvReader
from shop.errors import BackfillFileError

NATIVE = "sku,name,description,category,price\n"
LEGACY = "Name,Metal Type,Price,Stone Type,Customizable?\n"


def read(content):
    """`(rows, rejections)` of a file: rows as the writer gets them, `(line, reason)` pairs."""
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    rejections = []
    with ProductCsvReader(io.BytesIO(data)) as reader:
        rows = list(reader.rows(lambda line, reason: rejections.append((line, reason))))
    return rows, rejections


def reasons(content):
    rows, rejections = read(content)
    assert rows == []
    return [reason for _, reason in rejections]


class TestValidRows:
    def test_a_row_comes_out_as_the_writers_tuple(self):
        rows, rejections = read(NATIVE + "A-1,Anvil,Heavy,Tools,10.50\n")

        assert rejections == []
        assert rows == [(2, "A-1", "Anvil", "Heavy", "Tools", "10.50", "", "", None, None)]

    def test_optional_columns_may_be_left_out(self):
        rows, _ = read("sku,name,price\nA-1,Anvil,3\n")

        assert rows == [(2, "A-1", "Anvil", "", "", "3", "", "", None, None)]

    def test_a_byte_order_mark_before_the_header_is_dropped(self):
        rows, _ = read(b"\xef\xbb\xbf" + b"sku,name,price\nA-1,Anvil,3\n")

        assert [row[1] for row in rows] == ["A-1"]

    def test_blank_lines_are_skipped_and_lines_counted_as_in_the_file(self):
        rows, _ = read("\n\nsku,name,price\n\nA-1,Anvil,3\n\n\nB-1,Bucket,4\n")

        assert [(row[0], row[1]) for row in rows] == [(5, "A-1"), (8, "B-1")]

    def test_a_quoted_newline_stays_in_its_field_and_the_next_row_keeps_its_line(self):
        rows, _ = read(NATIVE + 'A-1,Anvil,"two\nlines",Tools,3\nB-1,Bucket,,,4\n')

        assert rows[0][3] == "two\nlines"
        assert (rows[1][0], rows[1][1]) == (4, "B-1")

    @pytest.mark.parametrize("mark", ["\ufeff", "\u200b", "\u00a0", "\u2060", " "])
    def test_invisible_characters_and_spaces_around_values_are_trimmed(self, mark):
        rows, _ = read(NATIVE + f"{mark}A-1{mark},{mark}Anvil{mark},,{mark}Tools,{mark}3{mark}\n")

        assert rows == [(2, "A-1", "Anvil", "", "Tools", "3", "", "", None, None)]

    def test_a_price_is_passed_on_as_its_checked_text_for_the_database_to_read(self):
        rows, _ = read("sku,name,price\nA-1,Anvil, 007.10 \n")

        assert rows[0][5] == "007.10"  # the product's price is 7.10: test_command.py


class TestRejectedRows:
    def test_a_row_of_the_wrong_width_is_rejected_with_its_counts(self):
        assert reasons("sku,name,price\nA-1,Anvil\n") == ["expected 3 fields, found 2"]

    def test_an_unclosed_quote_names_the_lines_it_swallowed(self):
        (reason,) = reasons('sku,name,price\nA-1,"Anvil,3\nB-1,Bucket,4\n')

        assert "runs over lines 2 to 3" in reason

    @pytest.mark.parametrize(
        ("row", "reason"),
        [
            (",Anvil,,,3", "missing sku"),
            ("\u200b,Anvil,,,3", "missing sku"),
            ("A-1,,,,3", "missing name"),
            ("A-1,Anvil,,,", "missing price"),
            ("S" * 65 + ",Anvil,,,3", "sku is longer than 64 characters (65)"),
            ("A-1," + "N" * 256 + ",,,3", "name is longer than 255 characters (256)"),
            ("A-1,Anvil,," + "C" * 101 + ",3", "category is longer than 100 characters (101)"),
            (
                "A-1,Anvil," + "D" * (1024 * 1024 + 1) + ",,3",
                "description is longer than 1,048,576 characters (1,048,577)",
            ),
            (
                "INV\u200b-1,Anvil,,,3",
                "sku 'INV\\u200b-1' contains an invisible character (U+200B)",
            ),
        ],
        ids=[
            "no-sku",
            "invisible-sku",
            "no-name",
            "no-price",
            "long-sku",
            "long-name",
            "long-category",
            "long-description",
            "invisible-inside",
        ],
    )
    def test_each_field_rule_has_its_reason(self, row, reason):
        assert reasons(NATIVE + row + "\n") == [reason]

    @pytest.mark.parametrize(
        ("price", "reason"),
        [
            ("-1.00", "negative price -1.00 (must be 0 or more)"),
            ("1.234", "price 1.234 has more than 2 decimal places"),
            ('"1,234.00"', "price 1,234.00 has a thousands separator; write a plain decimal"),
            ("12345678901.00", "price 12345678901.00 is too large (at most 10 digits before"),
            ("1e5", "price '1e5' is not a plain decimal number like 12.50"),
            ("+5", "price '+5' is not a plain decimal number like 12.50"),
            ("\uff11", "price '\uff11' is not a plain decimal number like 12.50"),
        ],
    )
    def test_each_price_refusal_has_its_reason(self, price, reason):
        (given,) = reasons(f"sku,name,price\nA-1,Anvil,{price}\n")

        assert given.startswith(reason)

    def test_the_sku_is_reported_before_the_name_and_the_price(self):
        assert reasons("sku,name,price\n,,\n") == ["missing sku"]

    def test_rejected_rows_are_counted(self):
        content = "sku,name,price\nA-1,Anvil,3\n,Nameless,3\nB-1,Bucket,-1\n"
        rejections = []
        with ProductCsvReader(io.BytesIO(content.encode())) as reader:
            list(reader.rows(lambda line, reason: rejections.append(line)))

        assert (reader.stats.rows, reader.stats.rejected, rejections) == (3, 2, [3, 4])


class TestScreenedBatches:
    """Rows are read `SCREENED_ROWS` at a time: a batch whose columns pass the screens is
    taken as written, any other is checked cell by cell, with the same rows and reasons."""

    def good(self, count):
        return "".join(f"S-{n},Item {n},,Cat,{n}.50\n" for n in range(count))

    def test_a_clean_batch_and_a_checked_batch_give_the_same_rows(self):
        clean, _ = read(NATIVE + self.good(3))
        checked, _ = read(NATIVE + self.good(2) + " S-2 ,Item 2,,Cat,2.50\n")

        assert (
            clean
            == checked
            == [
                (line, f"S-{n}", f"Item {n}", "", "Cat", f"{n}.50", "", "", None, None)
                for line, n in ((2, 0), (3, 1), (4, 2))
            ]
        )

    def test_rejections_keep_the_files_order_across_batches(self):
        rows = [f"S-{n},Item {n},Cat,{n}" for n in range(2 * SCREENED_ROWS + 5)]
        rows[10] = "S-10,Item 10"  # the wrong width: found while the batch is read
        rows[11] = "S-11,,Cat,1"  # a field rule: found when the batch is checked
        rows[SCREENED_ROWS + 3] = "S-x,Item,Cat"
        rows[-1] = "S-last,Item,Cat,-1"
        rejections = []
        content = "sku,name,category,price\n" + "\n".join(rows) + "\n"
        with ProductCsvReader(io.BytesIO(content.encode())) as reader:
            kept = list(reader.rows(lambda line, reason: rejections.append(line)))

        assert rejections == [12, 13, SCREENED_ROWS + 5, 2 * SCREENED_ROWS + 6]
        assert len(kept) == 2 * SCREENED_ROWS + 1
        assert [row[0] for row in kept] == sorted(row[0] for row in kept)
        assert reader.stats.rejected == 4

    def test_a_file_of_rows_of_the_wrong_width_reports_each_in_order(self):
        content = "sku,name,price\n" + "A-1,Anvil\n" * (SCREENED_ROWS + 2)
        _, rejections = read(content)

        assert [line for line, _ in rejections] == list(range(2, SCREENED_ROWS + 4))

    def test_a_file_ending_in_rejected_rows_reports_them(self):
        _, rejections = read("sku,name,price\nA-1,Anvil,3\nB-1\nC-1\n")

        assert [line for line, _ in rejections] == [3, 4]

    def test_active_words_in_any_case_are_read_whichever_way_the_batch_goes(self):
        rows, _ = read("sku,name,price,active\nA-1,Anvil,3,yes\nB-1,Bucket,4,\n")
        mixed, _ = read("sku,name,price,active\nA-1,Anvil,3,YES\nB-1,Bucket,4,\n")

        assert [row[-1] for row in rows] == [row[-1] for row in mixed] == [True, None]


class TestActiveColumn:
    @pytest.mark.parametrize(
        ("cell", "active"),
        [
            ("true", True),
            ("TRUE", True),
            ("1", True),
            ("Yes", True),
            (" yes ", True),
            ("false", False),
            ("False", False),
            ("0", False),
            ("NO", False),
            ("", None),
        ],
    )
    def test_a_cell_says_true_false_or_nothing(self, cell, active):
        rows, _ = read(f"sku,name,price,active\nA-1,Anvil,3,{cell}\n")

        assert rows[0][-1] is active

    @pytest.mark.parametrize("cell", ["maybe", "2", "y", "on"])
    def test_anything_else_rejects_the_row(self, cell):
        assert reasons(f"sku,name,price,active\nA-1,Anvil,3,{cell}\n") == [
            f"active must be true or false (or yes/no, 1/0), not {cell!r}"
        ]

    def test_a_field_rule_is_reported_before_the_active_cell(self):
        assert reasons("sku,name,price,active\n,Anvil,3,maybe\n") == ["missing sku"]


class TestOldServiceFormat:
    def test_a_row_gets_its_derived_sku_and_a_plain_price(self):
        rows, _ = read(LEGACY + 'Ring,Gold,"$1,250.00",Ruby,Yes\n')

        ((line, sku, name, _, _, price, metal, stone, customizable, active),) = rows
        assert (line, name, price, metal, stone, customizable, active) == (
            2,
            "Ring",
            "1250.00",
            "Gold",
            "Ruby",
            True,
            None,  # the product's own: kept, or true for a new one
        )
        assert sku.startswith("OLD-")

    @pytest.mark.parametrize(
        ("row", "reason"),
        [
            (",Gold,$1,,No", "missing name"),
            ("Ring," + "M" * 101 + ",$1,,No", "metal type is longer than 100 characters (101)"),
            ("Ring,Gold,$1," + "S" * 101 + ",No", "stone type is longer than 100 characters (101)"),
            ("Ring,Gold,$-1,,No", "negative price -1 (must be 0 or more) (read from '$-1')"),
            ("Ring,Gold,$1,,maybe", "customizable? must be yes or no, not 'maybe'"),
            (",Gold,$x,,maybe", "missing name"),
        ],
    )
    def test_each_rule_has_its_reason(self, row, reason):
        (given,) = reasons(LEGACY + row + "\n")

        assert given.startswith(reason)


class TestUnusableFiles:
    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "the file is empty"),
            (b"\n\n", "the file is empty"),
            (b"\xff\xfes\x00k\x00u\x00", "UTF-16"),
            (b"sku,name,price\nA,Caf\xe9,1\n", "not UTF-8"),
            (b"sku,name\nA,B\n", "missing required column price"),
            (b"sku,sku,name,price\n", "names the column 'sku' twice"),
        ],
    )
    def test_is_refused_with_its_reason(self, content, message):
        with pytest.raises(BackfillFileError, match=message):
            read(content)

    def test_a_field_past_the_parsers_limit_stops_the_file(self):
        content = b'sku,name,price\nA-1,"' + b"x" * (MAX_FIELD + 1) + b'",1\n'

        with pytest.raises(BackfillFileError, match="longer than 16,777,216 characters"):
            read(content)

    def test_a_long_field_under_the_limit_is_one_rejected_row(self):
        rows, rejections = read(b'sku,name,price\nA-1,"' + b"x" * 300_000 + b'",1\nB-1,Bb,2\n')

        assert [row[1] for row in rows] == ["B-1"]
        assert rejections == [(2, "name is longer than 255 characters (300000)")]
