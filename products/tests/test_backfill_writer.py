"""The writer (products/backfill/writer.py): staged rows in, the catalogue written, counts out,
and an audit event per product created or changed (written set-based with the upsert).

On both databases: each runs its own SQL (PostgreSQL `COPY` and its two upsert plans,
SQLite `executemany`).
"""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from products.backfill import run_backfill
from products.backfill.writer import IMPORT_WORK_MEM, writer_for
from products.models import Product

pytestmark = pytest.mark.django_db


def row(line, sku, name, price="1.00", *, active=None):
    """A row as the reader yields it (`writer.STAGING_COLUMNS`)."""
    return (line, sku, name, "", "", price, "", "", None, active)


def write(rows, *, batch_size=2, dry_run=False):
    """Stages `rows`, drops the later duplicates and writes (or plans): `(counts, duplicates)`."""
    duplicates = []
    with writer_for(connection, batch_size) as writer:
        writer.write(iter(rows))
        writer.remove_duplicates(lambda line, sku, first: duplicates.append((line, sku, first)))
        if dry_run:
            return writer.plan(), duplicates
        with transaction.atomic():
            return writer.upsert(), duplicates


@pytest.fixture
def catalogue():
    Product.objects.create(sku="A", name="Anvil", price=Decimal("1.00"))
    Product.objects.create(sku="B", name="Bucket", price=Decimal("2.00"))
    Product.objects.create(sku="C", name="Chisel", price=Decimal("3.00"))
    return {p.sku: p for p in Product.objects.all()}


def test_new_changed_and_unchanged_rows_are_counted_and_written(catalogue):
    rows = [row(2, "A", "Anvil"), row(3, "B", "Bucket", "2.50"), row(4, "D", "Drill", "4")]

    counts, _ = write(rows)

    assert counts == (1, 1, 1)
    assert Product.objects.get(sku="B").price == Decimal("2.50")
    assert Product.objects.get(sku="D").name == "Drill"
    assert Product.objects.get(sku="C").name == "Chisel"  # not in the file: left alone


def test_the_import_has_more_memory_for_its_joins_and_gives_it_back(postgres_only, catalogue):
    def work_mem():
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            return cursor.fetchone()[0]

    before = work_mem()
    with writer_for(connection, 2) as writer:
        during = work_mem()
        writer.write(iter([row(1, "A", "Anvil")]))

    assert (during, work_mem()) == (IMPORT_WORK_MEM, before)


def test_an_unchanged_row_is_not_written(catalogue):
    before = catalogue["A"].updated_at

    counts, _ = write([row(2, "A", "Anvil", "1")])  # the same price, spelled otherwise

    assert counts == (0, 0, 1)
    assert Product.objects.get(sku="A").updated_at == before


def test_the_same_rows_written_again_change_nothing(catalogue):
    rows = [row(2, "B", "Bucket", "9.00"), row(3, "E", "Easel")]
    write(rows)
    stamps = dict(Product.objects.values_list("sku", "updated_at"))

    counts, _ = write(rows)

    assert counts == (0, 0, 2)
    assert dict(Product.objects.values_list("sku", "updated_at")) == stamps


def test_a_load_larger_than_the_catalogue_counts_the_same(catalogue):
    rows = [row(2, "A", "Anvil", "1.50"), row(3, "C", "Chisel", "3.00")]
    rows += [row(4 + n, f"N-{n}", f"New {n}") for n in range(5)]

    counts, _ = write(rows)

    assert counts == (5, 1, 1)
    assert Product.objects.count() == 3 + 5
    assert Product.objects.get(sku="A").price == Decimal("1.50")


def test_later_duplicates_are_reported_and_the_first_kept(catalogue):
    rows = [row(2, "X", "First"), row(3, "Y", "Other"), row(4, "X", "Second"), row(5, "X", "3rd")]

    counts, duplicates = write(rows)

    assert duplicates == [(4, "X", 2), (5, "X", 2)]
    assert counts == (2, 0, 0)
    assert Product.objects.get(sku="X").name == "First"


def test_a_dry_run_counts_what_the_write_would_do_and_writes_nothing(catalogue):
    rows = [row(2, "A", "Anvil"), row(3, "B", "Bucket", "2.50"), row(4, "D", "Drill")]

    counts, _ = write(rows, dry_run=True)

    assert counts == (1, 1, 1)
    assert not Product.objects.filter(sku="D").exists()
    assert Product.objects.get(sku="B").price == Decimal("2.00")


class TestActive:
    """An `active` cell sets it; an empty one keeps the product's, or is true for a new one."""

    @pytest.fixture
    def retired(self, catalogue):
        Product.objects.filter(sku="B").update(active=False)
        return Product.objects.get(sku="B")

    def test_false_retires_a_product_and_true_brings_it_back(self, catalogue):
        counts, _ = write([row(2, "A", "Anvil", active=False)])

        assert counts == (0, 1, 0)
        assert Product.objects.get(sku="A").active is False
        assert write([row(2, "A", "Anvil", active=True)])[0] == (0, 1, 0)
        assert Product.objects.get(sku="A").active is True

    def test_an_empty_cell_keeps_a_retired_product_retired_and_writes_nothing(self, retired):
        counts, _ = write([row(2, "B", "Bucket", "2.00")])

        assert counts == (0, 0, 1)
        retired.refresh_from_db()
        assert retired.active is False

    def test_an_empty_cell_with_a_change_keeps_active_as_it_is(self, retired):
        counts, _ = write([row(2, "B", "Bucket", "2.75")])

        assert counts == (0, 1, 0)
        assert Product.objects.filter(sku="B", active=False, price=Decimal("2.75")).exists()

    def test_a_new_product_is_active_unless_the_file_says_otherwise(self, catalogue):
        write([row(2, "N-1", "New"), row(3, "N-2", "Retired already", active=False)])

        assert dict(Product.objects.filter(sku__startswith="N-").values_list("sku", "active")) == {
            "N-1": True,
            "N-2": False,
        }

    def test_a_load_larger_than_the_catalogue_keeps_a_retired_product_retired(self, retired):
        rows = [row(2, "B", "Bucket", "3.00")] + [row(3 + n, f"N-{n}", "New") for n in range(5)]

        counts, _ = write(rows)

        assert counts == (5, 1, 0)
        assert Product.objects.get(sku="B").active is False
        assert Product.objects.filter(sku__startswith="N-", active=True).count() == 5

    def test_a_dry_run_counts_a_retirement_as_an_update(self, catalogue):
        rows = [row(2, "A", "Anvil", active=False), row(3, "C", "Chisel", "3")]

        assert write(rows, dry_run=True)[0] == (0, 1, 1)


# The audit trail of an import: the events it writes with the upsert.

HEADER = "sku,name,description,category,price\n"


def load_file(tmp_path, rows, name="products.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(rows))
    return run_backfill(path)


def product_events(action=None):
    events = AuditEvent.objects.filter(object_type="products.product").order_by("id")
    return list(events.filter(action=action) if action else events)


def test_a_first_load_records_each_new_product_by_name(tmp_path):
    load_file(tmp_path, ["A-1,Anvil,,tools,10\n", "B-1,Bucket,heavy,garden,2.5\n"])

    created = product_events("created")
    products = {p.sku: p for p in Product.objects.all()}
    assert [event.object_id for event in created] == [
        str(products["A-1"].pk),
        str(products["B-1"].pk),
    ]
    # Its values are the product's own until its first change, whose event holds them.
    assert [event.changes for event in created] == [{}, {}]


def test_a_new_products_first_values_are_the_before_of_its_first_change(tmp_path):
    load_file(tmp_path, ["B-1,Bucket,heavy,garden,2.5\n"], "first.csv")

    load_file(tmp_path, ["B-1,Bucket,light,garden,2.5\n"], "second.csv")

    (updated,) = product_events("updated")
    assert updated.changes == {"description": ["heavy", "light"]}


@pytest.mark.parametrize("new_rows", [0, 5], ids=["upsert", "first-load path"])
def test_a_changed_product_records_before_and_after(tmp_path, new_rows):
    load_file(tmp_path, ["A-1,Anvil,,tools,10\n"], "first.csv")
    more = [f"N-{n},New {n},,misc,1\n" for n in range(new_rows)]

    load_file(tmp_path, ["A-1,Anvil,,tools,12.5\n", *more], "second.csv")

    (updated,) = product_events("updated")
    assert updated.object_id == str(Product.objects.get(sku="A-1").pk)
    assert updated.changes == {"price": ["10.00", "12.50"]}
    assert len(product_events("created")) == 1 + new_rows


def test_an_unchanged_rerun_records_no_product_event(tmp_path):
    rows = ["A-1,Anvil,,tools,10\n", "B-1,Bucket,,garden,2.5\n"]
    load_file(tmp_path, rows, "first.csv")
    before = len(product_events())

    run = load_file(tmp_path, rows, "second.csv")

    assert run.unchanged == 2
    assert len(product_events()) == before
    assert AuditEvent.objects.filter(action="import_run", object_id=str(run.pk)).exists()


def test_the_run_is_one_event_with_its_outcome(tmp_path):
    run = load_file(tmp_path, ["A-1,Anvil,,tools,10\n", "bad,,,,\n"])

    (event,) = AuditEvent.objects.filter(action="import_run")
    assert (event.object_type, event.object_id) == ("products.backfillrun", str(run.pk))
    assert event.changes == {"status": ["running", "partial"]}
    assert "created 1" in event.reason and "rejected 1" in event.reason


def test_a_dry_run_records_no_product_event(tmp_path):
    path = tmp_path / "dry.csv"
    path.write_text(HEADER + "A-1,Anvil,,tools,10\n")

    run_backfill(path, dry_run=True)

    assert product_events() == []


def test_an_empty_active_column_keeps_the_product_and_records_no_change(tmp_path):
    path = tmp_path / "active.csv"
    path.write_text("sku,name,price,active\nA-1,Anvil,10,false\n")
    run_backfill(path)
    path.write_text("sku,name,price,active\nA-1,Anvil,11,\n")

    run_backfill(path)

    (updated,) = product_events("updated")
    assert updated.changes == {"price": ["10.00", "11.00"]}
