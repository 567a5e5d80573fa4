"""The purchases admin (writes through the services) and the sales page."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from purchases.admin_views import choose_period
from purchases.models import Purchase

pytestmark = pytest.mark.django_db

ADD = "/admin/purchases/purchase/add/"
SALES = "/admin/purchases/purchase/sales/"


@pytest.fixture
def staff_admin(client, staff):
    """An admin session of a plain staff member (not a superuser, no model permissions)."""
    client.force_login(staff)
    return client


def change_url(purchase):
    return reverse("admin:purchases_purchase_change", args=[purchase.pk])


def form_data(purchase, **changes):
    data = {"user": purchase.user_id or "", "product": purchase.product_id, "quantity": 1}
    data.update({"quantity": purchase.quantity, **changes})
    return data


# --- Recording and correcting purchases ---------------------------------------------


def test_add_takes_the_price_from_the_product_not_the_form(staff_admin, customer, product):
    response = staff_admin.post(
        ADD,
        {
            "user": customer.pk,
            "product": product.pk,
            "quantity": 3,
            "unit_price": "0.01",
            "customer_email": "x@example.com",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    purchase = Purchase.objects.get()
    assert (purchase.unit_price, purchase.quantity, purchase.total) == (
        Decimal("12.50"),
        3,
        Decimal("37.50"),
    )
    assert (purchase.customer_email, purchase.product_sku) == ("alice@example.com", "M-001")
    assert response["Location"] == "/admin/purchases/purchase/"


def test_add_form_has_no_price_input_and_says_where_it_comes_from(staff_admin):
    page = staff_admin.get(ADD).content.decode()

    assert 'name="unit_price"' not in page
    assert "The product&#x27;s current price, taken when you save." in page
    assert "admin-autocomplete" in page  # user and product are picked by autocomplete


@pytest.mark.parametrize(
    ("missing", "quantity", "error_field"),
    [("user", 1, "user"), ("", 0, "quantity"), ("product", 1, "product")],
)
def test_add_needs_a_customer_a_product_and_a_quantity(
    staff_admin, customer, product, missing, quantity, error_field
):
    data = {"user": customer.pk, "product": product.pk, "quantity": quantity}
    data.pop(missing, None)

    response = staff_admin.post(ADD, data)

    assert response.status_code == 200
    assert error_field in response.context["adminform"].form.errors
    assert not Purchase.objects.exists()


def test_changing_the_quantity_keeps_the_price_paid(staff_admin, customer, product, buy):
    purchase = buy(customer, product, quantity=1)
    product.price = Decimal("99.00")
    product.save()

    response = staff_admin.post(change_url(purchase), form_data(purchase, quantity=4))

    assert response.status_code == 302, response.content[:2000]
    purchase.refresh_from_db()
    assert (purchase.quantity, purchase.unit_price) == (4, Decimal("12.50"))


def test_changing_the_product_reprices_through_the_service(
    staff_admin, customer, other_customer, product, other_product, buy
):
    purchase = buy(customer, product)

    response = staff_admin.post(
        change_url(purchase),
        form_data(purchase, product=other_product.pk, user=other_customer.pk),
    )

    assert response.status_code == 302, response.content[:2000]
    purchase.refresh_from_db()
    assert (purchase.product, purchase.unit_price, purchase.product_sku) == (
        other_product,
        Decimal("3.99"),
        "T-001",
    )
    assert purchase.customer_email == "bob@example.com"


def test_change_page_shows_the_snapshots_read_only(staff_admin, customer, product, buy):
    purchase = buy(customer, product, quantity=2)

    page = staff_admin.get(change_url(purchase)).content.decode()

    assert 'name="unit_price"' not in page and 'name="customer_email"' not in page
    assert "12.50" in page and "25.00" in page and "alice@example.com" in page
    assert "As recorded when the purchase was made" in page


def test_a_deleted_customers_purchase_can_still_be_corrected(staff_admin, customer, product, buy):
    purchase = buy(customer, product)
    customer.delete()
    purchase.refresh_from_db()

    response = staff_admin.post(change_url(purchase), form_data(purchase, quantity=2))

    assert response.status_code == 302, response.content[:2000]
    purchase.refresh_from_db()
    assert (purchase.user, purchase.quantity, purchase.customer_email) == (
        None,
        2,
        "alice@example.com",
    )
    listing = staff_admin.get("/admin/purchases/purchase/").content.decode()
    assert "alice@example.com (customer deleted)" in listing


def test_delete_a_purchase(staff_admin, customer, product, buy):
    purchase = buy(customer, product)

    url = reverse("admin:purchases_purchase_delete", args=[purchase.pk])
    response = staff_admin.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Purchase.objects.exists()


def test_autocomplete_finds_customers_and_products(staff_admin, customer, product):
    def search(field, term):
        response = staff_admin.get(
            "/admin/autocomplete/",
            {"app_label": "purchases", "model_name": "purchase", "field_name": field, "term": term},
        )
        assert response.status_code == 200
        return [item["text"] for item in response.json()["results"]]

    assert search("user", "lidd") == ["alice@example.com"]
    assert search("product", "mug") == ["M-001 Mug"]
    assert search("product", "m-00") == ["M-001 Mug"]


# --- The list --------------------------------------------------------------------------


def test_list_filters_by_customer_and_searches_names(
    staff_admin, customer, other_customer, product, buy
):
    mine, theirs = buy(customer, product), buy(other_customer, product)

    filtered = staff_admin.get(f"/admin/purchases/purchase/?customer={customer.pk}")
    searched = staff_admin.get("/admin/purchases/purchase/?q=builder")

    assert list(filtered.context["cl"].result_list) == [mine]
    assert "alice@example.com" in filtered.content.decode()  # the filter shows who
    assert list(searched.context["cl"].result_list) == [theirs]


def test_list_columns(staff_admin, customer, product, buy):
    buy(customer, product, quantity=2)

    page = staff_admin.get("/admin/purchases/purchase/").content.decode()

    assert "Alice Liddell" in page and "M-001" in page and "25.00" in page
    assert reverse("admin:purchases_purchase_sales") in page  # the button to the charts


def test_list_runs_a_constant_number_of_queries(
    staff_admin, make_user, make_product, buy, django_assert_max_num_queries
):
    def add(count):
        for _ in range(count):
            buy(make_user(), make_product())

    add(5)
    with CaptureQueriesContext(connection) as few:
        staff_admin.get("/admin/purchases/purchase/")
    add(45)

    with django_assert_max_num_queries(len(few)):
        response = staff_admin.get("/admin/purchases/purchase/")
    assert len(response.context["cl"].result_list) == 50


# --- Sales page ------------------------------------------------------------------------


TODAY = date(2024, 6, 30)


@pytest.mark.parametrize(
    ("params", "first", "last", "preset", "problem"),
    [
        ({}, date(2024, 6, 1), None, "30", ""),
        ({"period": "7"}, date(2024, 6, 24), None, "7", ""),
        ({"period": "all"}, None, None, "all", ""),
        ({"period": "bogus"}, date(2024, 6, 1), None, "30", ""),
        ({"from": "2024-01-01", "to": "2024-01-31"}, date(2024, 1, 1), date(2024, 1, 31), "", ""),
        ({"from": "2024-01-01", "to": ""}, date(2024, 1, 1), None, "", ""),
        ({"from": "nope"}, date(2024, 6, 1), None, "30", "Please give dates as YYYY-MM-DD."),
        (
            {"from": "2024-02-01", "to": "2024-01-01"},
            date(2024, 6, 1),
            None,
            "30",
            "The start date is after the end date.",
        ),
    ],
)
def test_choose_period(params, first, last, preset, problem):
    period, message = choose_period(params, TODAY)

    assert (period.first, period.last, period.preset, message) == (first, last, preset, problem)


def test_a_period_of_dates_holds_whole_days():
    period, _ = choose_period({"from": "2024-01-01", "to": "2024-01-31"}, TODAY)

    assert period.since.isoformat() == "2024-01-01T00:00:00+00:00"
    assert period.until.isoformat() == "2024-02-01T00:00:00+00:00"
    assert period.label == "01 Jan 2024 to 31 Jan 2024"


@pytest.fixture
def sales(make_user, make_product, buy):
    now = timezone.now()
    alice = make_user(first_name="Alice", last_name="Big")
    bob = make_user(first_name="Bob", last_name="Small")
    carol = make_user(first_name="Carol", last_name="Oldtimer")
    mug = make_product(price="10.00", name="Mug")
    tea = make_product(price="2.00", name="Tea")
    buy(alice, mug, quantity=5, at=now - timedelta(days=2))  # 50.00
    buy(bob, tea, quantity=10, at=now - timedelta(days=1))  # 20.00
    buy(carol, mug, quantity=100, at=now - timedelta(days=200))  # 1000.00, long ago
    return {"alice": alice, "bob": bob, "carol": carol}


def test_sales_page_defaults_to_the_last_30_days(staff_admin, sales):
    response = staff_admin.get(SALES)

    assert response.status_code == 200
    assert response.context["period"].label == "Last 30 days"
    assert [u.get_full_name() for u in response.context["customers"]] == ["Alice Big", "Bob Small"]
    assert [p.name for p in response.context["products"]] == ["Tea", "Mug"]  # by units
    assert response.context["revenue"] == Decimal("70.00")
    assert response.context["purchase_count"] == 2
    page = response.content.decode()
    assert page.count('class="chart bar-chart"') == 2
    assert page.count('class="chart line-chart"') == 1
    assert "<script" not in page.split('id="content-main"')[1]  # the charts need no JavaScript


def test_sales_page_all_time(staff_admin, sales):
    response = staff_admin.get(SALES, {"period": "all"})

    assert response.context["customers"][0] == sales["carol"]
    assert response.context["revenue"] == Decimal("1070.00")
    # A day for each day from the first sale to today, quiet days at zero.
    assert response.content.decode().count("<circle") >= 200


def test_sales_page_for_dates(staff_admin, sales):
    day = (timezone.now() - timedelta(days=2)).date().isoformat()

    response = staff_admin.get(SALES, {"from": day, "to": day})

    assert [u.pk for u in response.context["customers"]] == [sales["alice"].pk]
    assert response.context["revenue"] == Decimal("50.00")


def test_sales_page_with_nothing_sold(staff_admin):
    page = staff_admin.get(SALES).content.decode()

    assert "Top customers by amount spent: nothing in this period." in page
    assert "Revenue per day: nothing in this period." in page


def test_sales_page_says_when_dates_are_unusable(staff_admin, sales):
    response = staff_admin.get(SALES, {"from": "31/12/2024"})

    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["Please give dates as YYYY-MM-DD. Showing last 30 days instead."]
    assert response.context["revenue"] == Decimal("70.00")


def test_sales_page_is_linked_from_the_admin_index(staff_admin):
    page = staff_admin.get("/admin/").content.decode()

    assert f'href="{SALES}"' in page
    assert 'href="/admin/products/product/backfill/"' in page
