"""The catalogue's admin: search, filters, the "Import from CSV" page and the run history."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from conftest import in_role
from products.models import BackfillRun, Product
from products.prices import price_error
from products.tests.conftest import lock_held_elsewhere

pytestmark = pytest.mark.django_db

BACKFILL = "/admin/products/product/backfill/"
GOOD = b"sku,name,description,category,price\nA-1,Anvil,Heavy,Tools,10.00\nB-1,Bucket,,Garden,2\n"
ONE_BAD = GOOD + b"C-1,Chisel,,Tools,cheap\n"


@pytest.fixture
def staff_admin(client, staff):
    """An admin session of a plain staff member (not a superuser, no model permissions)."""
    client.force_login(staff)
    return client


def upload(content=GOOD, name="products.csv", **options):
    data = {"file": SimpleUploadedFile(name, content, content_type="text/csv")}
    data.update({key: "on" for key, value in options.items() if value})
    return data


def make_products(count, start=0):
    Product.objects.bulk_create(
        Product(sku=f"P-{n:03d}", name=f"Product {n}", category="misc", price=Decimal(n))
        for n in range(start, start + count)
    )


# --- Products -------------------------------------------------------------------------


def test_product_search_by_sku_or_name(staff_admin):
    Product.objects.create(sku="MUG-1", name="Blue mug", price=Decimal("5"))
    Product.objects.create(sku="TEA-1", name="Green tea", price=Decimal("3"))

    by_sku = staff_admin.get("/admin/products/product/?q=mug-1").content.decode()
    by_name = staff_admin.get("/admin/products/product/?q=green").content.decode()

    assert "Blue mug" in by_sku and "Green tea" not in by_sku
    assert "Green tea" in by_name and "Blue mug" not in by_name


@pytest.mark.parametrize(
    ("band", "expected"),
    [
        ("0-10", ["P-0", "P-9.99"]),
        ("10-50", ["P-10", "P-49.99"]),
        ("50-100", ["P-50"]),
        ("100-500", ["P-100"]),
        ("500-", ["P-500", "P-9000"]),
    ],
)
def test_price_range_filter(staff_admin, band, expected):
    for price in ["0", "9.99", "10", "49.99", "50", "100", "500", "9000"]:
        Product.objects.create(sku=f"P-{price}", name=f"At {price}", price=Decimal(price))

    response = staff_admin.get(f"/admin/products/product/?price_range={band}")

    shown = [product.sku for product in response.context["cl"].result_list]
    assert sorted(shown) == sorted(expected)


def test_product_list_columns_and_category_filter(staff_admin):
    Product.objects.create(sku="A", name="Axe", category="Tools", price=Decimal("20"))
    Product.objects.create(sku="B", name="Bulb", category="Garden", price=Decimal("2"))

    response = staff_admin.get("/admin/products/product/?category=Tools")

    assert response.context["cl"].list_display[1:] == [
        "sku",
        "name",
        "category",
        "list_price",
        "active",
        "updated_at",
    ]
    assert [p.sku for p in response.context["cl"].result_list] == ["A"]
    assert "Import from CSV" in response.content.decode()  # the button to the upload page


def test_product_prices_show_in_the_shops_currency_and_still_sort(staff_admin, settings):
    settings.SHOP_CURRENCY = "GBP"
    Product.objects.create(sku="A", name="Anvil", price=Decimal("1250"))
    Product.objects.create(sku="B", name="Bulb", price=Decimal("2.5"))

    response = staff_admin.get("/admin/products/product/?o=4")  # the price column, ascending

    assert [p.sku for p in response.context["cl"].result_list] == ["B", "A"]
    page = response.content.decode()
    assert "GBP 2.50" in page and "GBP 1,250.00" in page


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url", ["/admin/products/product/", "/admin/products/backfillrun/"], ids=["products", "runs"]
)
def test_list_pages_run_a_constant_number_of_queries(
    staff_admin, staff, url, django_assert_max_num_queries
):
    def add(count):
        make_products(count, start=Product.objects.count())
        for _ in range(count):
            BackfillRun.objects.create(
                source="x.csv", started_by=staff, rejected=1, rejected_lines=[{"line": 2}]
            )

    add(5)
    few = count_queries(staff_admin, url)
    add(45)

    with django_assert_max_num_queries(few):
        response = staff_admin.get(url)
    assert len(response.context["cl"].result_list) == 50


def test_staff_can_add_and_change_products(staff_admin):
    response = staff_admin.post(
        reverse("admin:products_product_add"),
        {"sku": "N-1", "name": "New", "description": "", "category": "", "price": "4.50"},
    )
    assert response.status_code == 302, response.content[:1000]
    assert Product.objects.get(sku="N-1").price == Decimal("4.50")

    response = staff_admin.post(
        reverse("admin:products_product_add"),
        {"sku": "N-2", "name": "Bad", "description": "", "category": "", "price": "-1"},
    )
    assert response.status_code == 200
    assert not Product.objects.filter(sku="N-2").exists()


@pytest.mark.parametrize("price", ["-0", "1e3", "+5", "1_000", "\uff11"])
def test_the_admin_refuses_prices_the_backfill_refuses(staff_admin, price):
    response = staff_admin.post(
        reverse("admin:products_product_add"),
        {"sku": "N-3", "name": "Odd", "description": "", "category": "", "price": price},
    )

    assert response.status_code == 200
    assert not Product.objects.filter(sku="N-3").exists()
    assert escape(price_error(price)) in response.content.decode()


def test_the_admin_refuses_an_invisible_character_inside_a_sku(staff_admin):
    response = staff_admin.post(
        reverse("admin:products_product_add"),
        {"sku": "INV\u200b-3", "name": "Odd", "description": "", "category": "", "price": "1"},
    )

    assert response.status_code == 200
    assert not Product.objects.exists()
    assert response.context["adminform"].form.errors["sku"] == [
        "The SKU contains an invisible character (U+200B)."
    ]


def test_the_admin_trims_invisible_characters_around_a_sku(staff_admin):
    response = staff_admin.post(
        reverse("admin:products_product_add"),
        {
            "sku": "\ufeffINV-4\u200b",
            "name": "Odd",
            "description": "",
            "category": "",
            "price": "1",
        },
    )

    assert response.status_code == 302
    assert Product.objects.get().sku == "INV-4"


def test_the_admin_refuses_a_trimmed_sku_that_exists(staff_admin):
    Product.objects.create(sku="INV-5", name="First", price=Decimal("1"))

    response = staff_admin.post(
        reverse("admin:products_product_add"),
        {"sku": "INV-5\u200b", "name": "Again", "description": "", "category": "", "price": "1"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["sku"] == [
        "A product with that SKU already exists."
    ]


def test_the_admin_change_form_refuses_an_invisible_character_inside_a_sku(staff_admin):
    product = Product.objects.create(sku="INV-6", name="Kept", price=Decimal("1"))

    response = staff_admin.post(
        reverse("admin:products_product_change", args=[product.pk]),
        {"sku": "INV\u200b-6", "name": "Kept", "description": "", "category": "", "price": "1"},
    )

    assert response.status_code == 200
    assert "U+200B" in response.context["adminform"].form.errors["sku"][0]
    product.refresh_from_db()
    assert product.sku == "INV-6"


class TestDiscontinue:
    """Discontinuing from the list (actions, filter) and instead of a refused delete."""

    @pytest.fixture
    def sold(self, customer):
        from purchases.services import create_purchase

        product = Product.objects.create(sku="SOLD-1", name="Sold", price=Decimal("5"))
        create_purchase(user=customer, product=product)
        return product

    def test_the_discontinue_and_make_available_again_actions(self, staff_admin):
        make_products(3)
        chosen = list(
            Product.objects.filter(sku__in=["P-000", "P-002"]).values_list("pk", flat=True)
        )

        response = staff_admin.post(
            "/admin/products/product/",
            {"action": "discontinue", "_selected_action": chosen},
            follow=True,
        )

        assert "2 product(s) discontinued." in response.content.decode()
        assert set(Product.objects.filter(active=False).values_list("sku", flat=True)) == {
            "P-000",
            "P-002",
        }
        staff_admin.post(
            "/admin/products/product/",
            {"action": "make_available_again", "_selected_action": chosen[:1]},
        )
        assert list(Product.objects.filter(active=False).values_list("sku", flat=True)) == ["P-002"]

    def test_the_list_filters_by_active(self, staff_admin):
        make_products(3)
        Product.objects.filter(sku="P-001").update(active=False)

        response = staff_admin.get("/admin/products/product/?active__exact=0")

        assert [p.sku for p in response.context["cl"].result_list] == ["P-001"]

    def test_the_refused_delete_page_of_a_sold_product_offers_to_discontinue(
        self, staff_admin, sold
    ):
        page = staff_admin.get(reverse("admin:products_product_delete", args=[sold.pk]))

        assert page.status_code == 200
        discontinue = reverse("admin:products_product_discontinue", args=[sold.pk])
        assert f'action="{discontinue}"' in page.content.decode()

        response = staff_admin.post(discontinue)

        assert response.status_code == 302
        assert response["Location"] == reverse("admin:products_product_change", args=[sold.pk])
        sold.refresh_from_db()
        assert sold.active is False
        assert (
            "no longer"
            not in staff_admin.get(reverse("admin:products_product_delete", args=[sold.pk]))
            .content.decode()
            .split("discontinued")[0][-0:]
        )

    def test_the_delete_page_of_a_discontinued_product_says_so(self, staff_admin, sold):
        Product.objects.filter(pk=sold.pk).update(active=False)

        page = staff_admin.get(reverse("admin:products_product_delete", args=[sold.pk]))

        assert "It is already discontinued" in page.content.decode()
        assert "discontinue-product" not in page.content.decode()

    def test_a_delete_refused_by_the_service_says_to_discontinue_instead(
        self, staff_admin, sold, monkeypatch
    ):
        from products.admin import ProductAdmin

        # The purchase came after the confirmation page was drawn: the page saw none.
        monkeypatch.setattr(
            ProductAdmin, "get_deleted_objects", lambda self, objs, request: ([], {}, set(), [])
        )

        response = staff_admin.post(
            reverse("admin:products_product_delete", args=[sold.pk]), {"post": "yes"}, follow=True
        )

        page = response.content.decode()
        assert "has purchases and cannot be deleted. Discontinue it instead" in page
        assert Product.objects.filter(pk=sold.pk).exists()

    def test_discontinuing_is_a_post(self, staff_admin, sold):
        url = reverse("admin:products_product_discontinue", args=[sold.pk])

        assert staff_admin.get(url).status_code == 405
        sold.refresh_from_db()
        assert sold.active is True

    def test_the_change_form_edits_active(self, staff_admin, sold):
        response = staff_admin.post(
            reverse("admin:products_product_change", args=[sold.pk]),
            {"sku": "SOLD-1", "name": "Sold", "description": "", "category": "", "price": "5"},
        )

        assert response.status_code == 302
        sold.refresh_from_db()
        assert sold.active is False  # an unticked box


# --- Import from CSV ------------------------------------------------------------------


def test_backfill_page_shows_the_form(staff_admin):
    response = staff_admin.get(BACKFILL)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'type="file"' in page and 'name="dry_run"' in page and 'name="strict"' in page
    assert "Required columns: sku, name, price" in page


def test_backfill_upload_goes_to_the_runs_page_with_its_report(staff_admin, staff):
    response = staff_admin.post(BACKFILL, upload(ONE_BAD), follow=True)
    run = BackfillRun.objects.get()
    run_page = reverse("admin:products_backfillrun_change", args=[run.pk])
    assert response.redirect_chain == [(run_page, 302)]
    assert (run.origin, run.started_by, run.source) == ("admin", staff, "upload: products.csv")
    assert (run.status, run.created, run.rejected) == ("partial", 2, 1)
    assert set(Product.objects.values_list("sku", flat=True)) == {"A-1", "B-1"}
    page = response.content.decode()
    assert '<td class="line">4</td>' in page  # the header is line 1
    assert "price" in page.split('<td class="line">4</td>')[1].split("</tr>")[0]
    assert "Imported the valid lines" in page
    assert 'id="run-live"' not in page  # it has ended: no progress panel


def test_backfill_dry_run_writes_nothing(staff_admin):
    response = staff_admin.post(BACKFILL, upload(dry_run=True), follow=True)

    run = BackfillRun.objects.get()
    assert run.dry_run and run.created == 2
    assert not Product.objects.exists()
    assert "Dry run, nothing was written" in response.content.decode()


def test_backfill_strict_with_a_bad_line_writes_nothing(staff_admin):
    response = staff_admin.post(BACKFILL, upload(ONE_BAD, strict=True), follow=True)

    run = BackfillRun.objects.get()
    assert (run.status, run.strict, run.rejected) == ("aborted", True, 1)
    assert not Product.objects.exists()
    assert "Strict mode: 1 line rejected, so nothing was imported." in response.content.decode()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"sku,name,price\nA,Caf\xe9,1\n", "UTF-8"),
        (b"\x00\x01binary", "binary"),
        (b"sku,name\nA,B\n", "price"),
    ],
    ids=["latin-1", "binary", "missing-column"],
)
def test_backfill_unusable_file_is_a_clear_message(staff_admin, content, problem):
    response = staff_admin.post(BACKFILL, upload(content), follow=True)

    run = BackfillRun.objects.get()
    assert run.status == "failed"
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1
    assert messages[0].startswith("This file cannot be imported:")
    assert problem in messages[0] and "Nothing was written." in messages[0]
    assert not Product.objects.exists()


def test_backfill_while_another_run_holds_the_lock(staff_admin):
    with lock_held_elsewhere():
        response = staff_admin.post(BACKFILL, upload())

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "Another import is running right now. Wait until it has finished (see the import "
        "history), then upload the file again."
    ]
    assert not Product.objects.exists()


def test_backfill_refuses_a_file_past_the_upload_limit(staff_admin, settings):
    settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES = 50

    response = staff_admin.post(BACKFILL, upload())

    assert response.status_code == 200
    assert "more than the upload limit of 50" in response.content.decode()
    assert not BackfillRun.objects.exists()


def test_backfill_without_a_file_or_with_an_empty_one(staff_admin):
    response = staff_admin.post(BACKFILL, {})
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["This field is required."]}

    response = staff_admin.post(BACKFILL, upload(b""))
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["The submitted file is empty."]}
    assert not BackfillRun.objects.exists()


# --- The run history ------------------------------------------------------------------


def test_run_history_is_read_only_and_shows_rejected_lines(staff_admin):
    staff_admin.post(BACKFILL, upload(ONE_BAD))
    run = BackfillRun.objects.get()
    url = reverse("admin:products_backfillrun_change", args=[run.pk])

    response = staff_admin.get(url)

    page = response.content.decode()
    assert response.status_code == 200
    assert '<td class="line">4</td>' in page
    assert "Why they were rejected" in page
    assert 'name="_save"' not in page
    assert staff_admin.post(url, {}).status_code == 403
    assert staff_admin.get(reverse("admin:products_backfillrun_add")).status_code == 403
    delete = reverse("admin:products_backfillrun_delete", args=[run.pk])
    assert staff_admin.post(delete, {"post": "yes"}).status_code == 403
    assert BackfillRun.objects.filter(pk=run.pk).exists()


def test_run_history_list(staff_admin):
    staff_admin.post(BACKFILL, upload(ONE_BAD, dry_run=True))

    page = staff_admin.get("/admin/products/backfillrun/").content.decode()

    assert 'title="upload: products.csv">upload: products.csv<' in page
    assert "back office, by Sam Staff" in page
    assert "2 new, 0 updated, 0 unchanged, 1 rejected; dry run: nothing written" in page
    assert "partial: valid lines imported, some rejected" in page


def test_a_running_runs_page_shows_its_phase_and_that_phases_progress(staff_admin):
    run = BackfillRun.objects.create(
        source="big.csv", status=BackfillRun.Status.RUNNING, phase="writing", progress=0.4
    )

    with lock_held_elsewhere():  # its process is alive
        page = staff_admin.get(reverse("admin:products_backfillrun_change", args=[run.pk]))

    text = " ".join(page.content.decode().split())
    progress = '<span class="percent">40</span>% <span class="phase-progress">of the rows written'
    assert progress in text
    assert '<span class="phase">writing to the catalogue</span>' in text


def run_page(client, run):
    return client.get(reverse("admin:products_backfillrun_change", args=[run.pk])).content.decode()


def test_a_runs_identical_reasons_are_one_row_with_their_count(staff_admin):
    lines = [{"line": n, "reason": "price: not a number"} for n in range(2, 1002)]
    lines.append({"line": 1002, "reason": "sku: empty"})
    run = BackfillRun.objects.create(
        source="upload: big.csv",
        status=BackfillRun.Status.PARTIAL,
        rows=1_360_000,
        created=1_358_999,
        rejected=1_001,
        rejected_lines=lines,
    )

    page = run_page(staff_admin, run)

    assert page.count('<td class="reason">') == 2
    assert '<td class="reason">price: not a number</td><td class="count">1,000</td>' in page
    assert "2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 990 more" in page
    assert '<td class="line">1002</td><td class="reason">sku: empty</td>' in page
    assert "1,360,000" in page and "1,358,999" in page  # counts read with separators


def test_a_run_whose_every_line_was_rejected_says_nothing_was_imported(staff_admin):
    staff_admin.post(BACKFILL, upload(b"sku,name,price\nA-1,Anvil,cheap\n"))
    run = BackfillRun.objects.get()

    page = run_page(staff_admin, run)
    listed = staff_admin.get("/admin/products/backfillrun/").content.decode()

    assert "nothing imported: every line was rejected" in page
    assert "partial" not in page
    assert "nothing imported: every line was rejected" in listed


def test_a_cancelled_run_reads_as_cancelled_not_as_an_error(staff_admin):
    run = BackfillRun.objects.create(
        source="upload: later.csv",
        status=BackfillRun.Status.CANCELLED,
        error="cancelled while running",
    )

    page = run_page(staff_admin, run)

    assert "cancelled: nothing imported" in page
    assert "What happened" in page and "cancelled while running" in page
    assert "Why a failed run failed" not in page
    assert "Error:" not in page


def test_a_running_runs_page_agrees_with_itself_and_asks_before_cancelling(staff_admin):
    run = BackfillRun.objects.create(
        source="upload: big.csv",
        status=BackfillRun.Status.RUNNING,
        phase=BackfillRun.Phase.WRITING,
        progress=0.5,
        rows=12_345,
    )
    with lock_held_elsewhere():  # its worker, alive
        page = run_page(staff_admin, run)

    assert f"<title>Import run {run.pk} |" in page  # no status in the title to go stale
    assert "queued" not in page.split('id="run-live"')[0]
    assert '<span class="rows">12,345</span>' in page
    assert "field-rows_read" not in page  # no second count below to go stale
    assert '<span class="phase">writing to the catalogue</span>' in page
    assert 'data-status="running"' in page  # the page reloads when the run's status moves on
    assert "window.confirm(" in page


def test_the_price_field_says_its_currency(staff_admin, settings):
    settings.SHOP_CURRENCY = "EUR"

    response = staff_admin.get(reverse("admin:products_product_add"))

    assert response.context["adminform"].form.fields["price"].label == "Price (EUR)"
    assert "Price (EUR):</label>" in response.content.decode()


def test_a_run_shows_and_is_found_by_the_request_id_that_started_it(staff_admin):
    staff_admin.post(BACKFILL, upload(), HTTP_X_REQUEST_ID="admin-upload-7", follow=True)
    BackfillRun.objects.create(source="other.csv", status="succeeded")
    run = BackfillRun.objects.get(request_id="admin-upload-7")

    page = staff_admin.get(reverse("admin:products_backfillrun_change", args=[run.pk]))
    found = staff_admin.get(
        reverse("admin:products_backfillrun_changelist"), {"q": "admin-upload-7"}
    )

    assert "admin-upload-7" in page.content.decode()
    assert list(found.context["cl"].result_list) == [run]


@pytest.mark.parametrize(("role", "status"), [("Catalogue", 200), ("Owner", 200), ("Analyst", 403)])
def test_the_import_page_is_for_the_roles_that_import_products(client, make_user, role, status):
    client.force_login(in_role(make_user(is_staff=True), role))

    response = client.get(BACKFILL)

    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")


def test_cancelling_an_import_takes_the_import_permission(client, make_user):
    run = BackfillRun.objects.create(source="late.csv", status=BackfillRun.Status.QUEUED)
    client.force_login(in_role(make_user(is_staff=True), "Analyst"))
    page = reverse("admin:products_backfillrun_change", args=[run.pk])
    cancel = reverse("admin:products_backfillrun_cancel", args=[run.pk])

    assert client.get(page).status_code == 200  # the history is theirs to read
    assert client.post(cancel).status_code == 403
    run.refresh_from_db()
    assert run.status == BackfillRun.Status.QUEUED
