"""The import's audit events (`products.backfill.writer`): one per product it creates or
changes, with before and after, written set-based with the upsert; none for the rest."""

import pytest

from audit.models import AuditEvent
from products.backfill import run_backfill
from products.models import Product

pytestmark = pytest.mark.django_db

HEADER = "sku,name,description,category,price\n"


def load(tmp_path, rows, name="products.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(rows))
    return run_backfill(path)


def product_events(action=None):
    events = AuditEvent.objects.filter(object_type="products.product").order_by("id")
    return list(events.filter(action=action) if action else events)


def test_a_first_load_records_each_new_product(tmp_path):
    load(tmp_path, ["A-1,Anvil,,tools,10\n", "B-1,Bucket,heavy,garden,2.5\n"])

    created = product_events("created")
    products = {p.sku: p for p in Product.objects.all()}
    assert [event.object_id for event in created] == [
        str(products["A-1"].pk),
        str(products["B-1"].pk),
    ]
    assert created[1].changes == {
        "sku": [None, "B-1"],
        "name": [None, "Bucket"],
        "description": [None, "heavy"],
        "category": [None, "garden"],
        "price": [None, "2.50"],
        "metal_type": [None, ""],
        "stone_type": [None, ""],
    }


@pytest.mark.parametrize("new_rows", [0, 5], ids=["upsert", "first-load path"])
def test_a_changed_product_records_before_and_after(tmp_path, new_rows):
    load(tmp_path, ["A-1,Anvil,,tools,10\n"], "first.csv")
    more = [f"N-{n},New {n},,misc,1\n" for n in range(new_rows)]

    load(tmp_path, ["A-1,Anvil,,tools,12.5\n", *more], "second.csv")

    (updated,) = product_events("updated")
    assert updated.object_id == str(Product.objects.get(sku="A-1").pk)
    assert updated.changes == {"price": ["10.00", "12.50"]}
    assert len(product_events("created")) == 1 + new_rows


def test_an_unchanged_rerun_records_no_product_event(tmp_path):
    rows = ["A-1,Anvil,,tools,10\n", "B-1,Bucket,,garden,2.5\n"]
    load(tmp_path, rows, "first.csv")
    before = len(product_events())

    run = load(tmp_path, rows, "second.csv")

    assert run.unchanged == 2
    assert len(product_events()) == before
    assert AuditEvent.objects.filter(action="import_run", object_id=str(run.pk)).exists()


def test_the_run_is_one_event_with_its_outcome(tmp_path):
    run = load(tmp_path, ["A-1,Anvil,,tools,10\n", "bad,,,,\n"])

    (event,) = AuditEvent.objects.filter(action="import_run")
    assert (event.object_type, event.object_id) == ("products.backfillrun", str(run.pk))
    assert event.changes == {"status": ["running", "partial"]}
    assert "created 1" in event.reason and "rejected 1" in event.reason


def test_a_dry_run_records_no_product_event(tmp_path):
    path = tmp_path / "dry.csv"
    path.write_text(HEADER + "A-1,Anvil,,tools,10\n")

    run_backfill(path, dry_run=True)

    assert product_events() == []
