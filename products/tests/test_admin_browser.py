"""In a real browser: staff upload a CSV from the product list and read what was rejected."""

import pytest

from products.models import BackfillRun, Product

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "sku,name,description,category,price\n"
    "MUG-001,Ceramic mug,350 ml,Kitchen,12.50\n"
    "TEA-001,Green tea,100 g loose leaf,Pantry,6.90\n"
    "PAN-001,Frying pan,28 cm,Kitchen,twelve\n"
    "SPN-001,Wooden spoon,,Kitchen,3.20\n"
)


def test_browser_backfill_upload_reports_the_bad_line(browser_page, staff, tmp_path):
    page = browser_page
    csv_path = tmp_path / "spring-catalogue.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    page.sign_in(staff)

    page.click("#shop-tools >> text=Backfill from CSV")
    page.wait_for_selector("#backfill-form")
    page.set_input_files("input[name=file]", str(csv_path))
    page.shot("backfill-form")
    page.click("input[type=submit][value='Run the backfill']")

    report = page.locator("#backfill-report")
    report.wait_for()
    page.shot("backfill-report")
    assert report.locator("td.created").inner_text() == "3"
    assert report.locator("td.rejected").inner_text() == "1"
    rejected = report.locator("table.rejected-lines tbody tr")
    assert rejected.count() == 1
    assert rejected.locator("td.line").inner_text() == "4"
    assert "price" in rejected.locator("td.reason").inner_text()
    assert "Imported the valid lines" in page.locator("ul.messagelist").inner_text()

    page.click("a.run-link")
    page.wait_for_selector("table.rejected-lines")
    page.shot("backfill-run-record")
    assert "upload: spring-catalogue.csv" in page.locator("#content-main").inner_text()
    run = BackfillRun.objects.get()
    assert (run.origin, run.started_by_id, run.rejected) == ("admin", staff.pk, 1)
    assert sorted(Product.objects.values_list("sku", flat=True)) == [
        "MUG-001",
        "SPN-001",
        "TEA-001",
    ]
