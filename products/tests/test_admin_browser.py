"""In a real browser: staff upload a CSV, follow its run's progress, read what was rejected."""

import pytest
from django.urls import reverse

from products.models import BackfillRun, Product
from products.tests.conftest import lock_held_elsewhere

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

    page.click("#shop-tools >> text=Import products from CSV")
    page.wait_for_selector("#backfill-form")
    page.set_input_files("input[name=file]", str(csv_path))
    page.shot("backfill-form")
    page.click("input[type=submit][value='Import the file']")

    # No broker here: the job ran in the request, and the run's page shows its result.
    rejected = page.locator("table.rejected-lines tbody tr")
    rejected.first.wait_for()
    page.shot("backfill-run-record")
    assert rejected.count() == 1
    assert rejected.locator("td.line").inner_text() == "4"
    assert "price" in rejected.locator("td.reason").inner_text()
    assert "Imported the valid lines" in page.locator("ul.messagelist").inner_text()
    content = page.locator("#content-main").inner_text()
    assert "upload: spring-catalogue.csv" in content
    run = BackfillRun.objects.get()
    assert (run.origin, run.started_by_id, run.rejected, run.created) == ("admin", staff.pk, 1, 3)
    assert sorted(Product.objects.values_list("sku", flat=True)) == [
        "MUG-001",
        "SPN-001",
        "TEA-001",
    ]


def test_browser_a_running_runs_page_follows_its_progress_then_shows_the_result(
    browser_page, staff
):
    page = browser_page
    run = BackfillRun.objects.create(
        source="upload: big.csv", status=BackfillRun.Status.RUNNING, progress=0.25, rows=250
    )
    page.sign_in(staff)
    # A worker holds the lock while it runs (without it the run would be known dead).
    with lock_held_elsewhere():
        page.goto(reverse("admin:products_backfillrun_change", args=[run.pk]))
        bar = page.locator("#run-live progress")
        assert float(bar.get_attribute("value")) == pytest.approx(0.25)
        page.shot("running")

        BackfillRun.objects.filter(pk=run.pk).update(progress=0.75, rows=750)
        page.wait_for_function(
            "document.querySelector('#run-live progress').value > 0.7", timeout=10_000
        )
        assert page.locator("#run-live .rows").inner_text() == "750"
        page.shot("moved")

        BackfillRun.objects.filter(pk=run.pk).update(
            status=BackfillRun.Status.SUCCEEDED, progress=1.0, rows=1000, created=1000
        )
        page.locator("#run-live").wait_for(state="detached", timeout=10_000)
    page.shot("finished")
    assert "succeeded" in page.locator("#content-main").inner_text()


def test_browser_cancel_declined_keeps_the_run(browser_page, staff):
    page = browser_page
    run = BackfillRun.objects.create(source="upload: later.csv")  # queued
    page.sign_in(staff)

    page.goto(reverse("admin:products_backfillrun_change", args=[run.pk]))
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("input.cancel-run")

    # Any post the click made has been answered once the page loads again.
    page.reload()
    run.refresh_from_db()
    assert run.status == BackfillRun.Status.QUEUED
    assert page.locator("#run-live").is_visible()
    assert not page.locator("ul.messagelist").count()


def test_browser_cancelling_a_queued_run_from_its_page(browser_page, staff):
    page = browser_page
    run = BackfillRun.objects.create(source="upload: later.csv")  # queued
    page.sign_in(staff)

    page.goto(reverse("admin:products_backfillrun_change", args=[run.pk]))
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("input.cancel-run")

    page.wait_for_selector("ul.messagelist")
    assert "cancelled before it started" in page.locator("ul.messagelist").inner_text()
    assert asked == ["Cancel this import? Nothing of it is kept."]
    run.refresh_from_db()
    assert run.status == BackfillRun.Status.CANCELLED


def test_browser_without_a_broker_the_upload_runs_in_a_thread_and_its_page_follows_it(
    browser_page, staff, tmp_path, settings
):
    settings.SHOP_BACKFILL_THREAD_WITHOUT_BROKER = True  # as under `make run`
    page = browser_page
    csv_path = tmp_path / "summer.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    page.sign_in(staff)

    page.goto(reverse("admin:products_product_backfill"))
    assert "this server imports the file itself" in page.locator(".how-it-runs").inner_text()
    page.set_input_files("input[name=file]", str(csv_path))
    page.click("input[type=submit][value='Import the file']")

    # The request answered at once with the run's page; the page ends on the result.
    page.wait_for_url("**/backfillrun/*/change/")
    page.locator("table.rejected-lines").wait_for(timeout=30_000)
    page.shot("threaded-run-finished")
    run = BackfillRun.objects.get()
    assert (run.status, run.created, run.rejected) == ("partial", 3, 1)
    assert (
        "partial: valid lines imported, some rejected"
        in page.locator(".field-run_status").inner_text()
    )
