"""The purchases admin: recording, correcting, listing and exporting purchases; the
customer's lifetime totals on their user page. Writes go through the services.

The sales page has its own tests, in test_sales_page.py.
"""

import html
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken

from conftest import in_role
from products.models import Product
from purchases import refunds, services
from purchases.admin import PurchaseAdmin
from purchases.exports import PURCHASE_COLUMNS
from purchases.models import Purchase, Refund
from shop.tests.test_exports import read_csv

pytestmark = pytest.mark.django_db

ADD = "/admin/purchases/purchase/add/"


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


def test_add_refuses_a_quantity_above_the_services_ceiling(staff_admin, customer, product):
    data = {"user": customer.pk, "product": product.pk, "quantity": services.MAX_QUANTITY + 1}

    response = staff_admin.post(ADD, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["quantity"] == [services.QUANTITY_TOO_LARGE]
    assert not Purchase.objects.exists()


def test_change_refuses_a_quantity_above_the_services_ceiling(staff_admin, customer, product, buy):
    purchase = buy(customer, product, quantity=2)

    response = staff_admin.post(change_url(purchase), form_data(purchase, quantity=2_000_000))

    assert response.status_code == 200
    assert "quantity" in response.context["adminform"].form.errors
    purchase.refresh_from_db()
    assert purchase.quantity == 2


def test_add_accepts_the_largest_quantity(staff_admin, customer, product):
    data = {"user": customer.pk, "product": product.pk, "quantity": services.MAX_QUANTITY}

    response = staff_admin.post(ADD, data)

    assert response.status_code == 302, response.content[:2000]
    assert Purchase.objects.get().quantity == services.MAX_QUANTITY


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

    assert search("user", "lidd") == ["Alice Liddell (alice@example.com)"]
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


@pytest.mark.parametrize(("column", "key"), [(5, "unit_price"), (6, "total")])
def test_list_sorts_by_the_amounts_shown_as_money(
    staff_admin, customer, make_product, buy, column, key
):
    cheap_many = buy(customer, make_product(price="2.00"), quantity=10)  # total 20.00
    dear_one = buy(customer, make_product(price="15.00"), quantity=1)  # total 15.00

    ascending = staff_admin.get(f"/admin/purchases/purchase/?o={column}")

    shown = list(ascending.context["cl"].result_list)
    assert shown == ([cheap_many, dear_one] if key == "unit_price" else [dear_one, cheap_many])
    page = ascending.content.decode()
    assert "USD 2.00" in page and "USD 20.00" in page and "USD 15.00" in page


def test_money_is_shown_in_the_shops_currency(staff_admin, settings, customer, product, buy):
    settings.SHOP_CURRENCY = "EUR"
    purchase = buy(customer, product, quantity=100)

    listing = staff_admin.get("/admin/purchases/purchase/").content.decode()
    change = staff_admin.get(change_url(purchase)).content.decode()

    assert "EUR 12.50" in listing and "EUR 1,250.00" in listing
    assert "EUR 12.50" in change and "EUR 1,250.00" in change


# --- Exports ---------------------------------------------------------------------------


def test_export_link_exports_the_list_with_its_filter_and_search(
    staff_admin, customer, other_customer, product, other_product, buy
):
    wanted = [buy(customer, product), buy(customer, product)]
    buy(customer, other_product)  # filtered out by the search
    buy(other_customer, product)  # filtered out by the customer filter
    listing = staff_admin.get(
        f"/admin/purchases/purchase/?customer={customer.pk}&q=mug&o=1&p=1"
    ).content.decode()

    href = re.search(r'href="([^"]+)" class="export-link"', listing).group(1)
    response = staff_admin.get(html.unescape(href))

    assert href.startswith(reverse("admin:purchases_purchase_export") + "?")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="purchases.csv"'
    header, *rows = read_csv(response)
    assert header == list(PURCHASE_COLUMNS)
    assert sorted(int(row[0]) for row in rows) == sorted(p.pk for p in wanted)


def test_export_covers_every_page_of_the_list(staff_admin, customer, product, buy):
    for _ in range(3):
        buy(customer, product)
    PurchaseAdmin.list_per_page, per_page = 2, PurchaseAdmin.list_per_page
    try:
        rows = read_csv(staff_admin.get("/admin/purchases/purchase/export/?p=2"))
    finally:
        PurchaseAdmin.list_per_page = per_page

    assert len(rows) == 1 + 3


def test_export_of_a_filter_the_list_cannot_apply_goes_back_to_the_list(staff_admin):
    response = staff_admin.get("/admin/purchases/purchase/export/?no_such_field=1")

    assert response.status_code == 302
    assert response["Location"] == "/admin/purchases/purchase/?e=1"


def test_export_selected_action_exports_the_rows_ticked(staff_admin, customer, product, buy):
    first, _, third = buy(customer, product), buy(customer, product), buy(customer, product)

    response = staff_admin.post(
        "/admin/purchases/purchase/",
        {"action": "export_selected", "_selected_action": [first.pk, third.pk]},
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = read_csv(response)
    assert header == list(PURCHASE_COLUMNS)
    assert sorted(int(row[0]) for row in rows) == sorted([first.pk, third.pk])
    assert (
        "Export selected purchases to CSV"
        in staff_admin.get("/admin/purchases/purchase/").content.decode()
    )


def test_the_admin_writes_the_same_file_as_the_api(
    staff_admin, staff_client, customer, buy, product
):
    buy(customer, product, quantity=2)

    from_admin = read_csv(staff_admin.get("/admin/purchases/purchase/export/"))
    from_api = read_csv(staff_client.get("/purchases?format=csv"))

    assert from_admin == from_api


def test_customers_cannot_export_from_the_admin(client, customer, product, buy):
    buy(customer, product)
    client.force_login(customer)

    response = client.get("/admin/purchases/purchase/export/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- A customer's page: lifetime totals -------------------------------------------------


def test_customer_page_shows_lifetime_totals_from_one_aggregate_query(
    staff_admin, settings, customer, other_customer, make_product, buy
):
    settings.SHOP_CURRENCY = "EUR"
    buy(customer, make_product(price="1000.25"), at=datetime(2023, 3, 4, 9, 30, tzinfo=UTC))
    buy(customer, make_product(price="117.00"), quantity=2, at=datetime(2024, 5, 6, tzinfo=UTC))
    buy(other_customer, make_product(price="5.00"))  # not hers

    with CaptureQueriesContext(connection) as queries:
        response = staff_admin.get(reverse("admin:users_user_change", args=[customer.pk]))

    page = response.content.decode()
    fields = {
        name: re.search(rf'field-{name}.*?<div class="readonly">(.*?)</div>', page, re.S).group(1)
        for name in ("total_spent", "purchase_count", "first_purchase", "last_purchase")
    }
    assert fields["total_spent"] == "EUR 1,234.25"
    assert fields["purchase_count"] == "2"
    assert fields["first_purchase"] == "March 4, 2023, 9:30 a.m."
    assert fields["last_purchase"] == "May 6, 2024, midnight"
    assert "See all 2 purchases of this customer" in page
    totals = [q["sql"] for q in queries.captured_queries if "MIN(" in q["sql"].upper()]
    assert len(totals) == 1
    assert "COUNT(" in totals[0].upper() and "MAX(" in totals[0].upper()


def test_customer_without_purchases_shows_zero_totals(staff_admin, customer):
    page = staff_admin.get(reverse("admin:users_user_change", args=[customer.pk])).content.decode()

    assert "USD 0.00" in page
    assert "No purchases yet." in page


# --- What staff read ------------------------------------------------------------------


def test_the_purchase_form_says_customer_and_names_them_with_their_email(
    staff_admin, buy, customer, product
):
    purchase = buy(customer, product)

    response = staff_admin.get(change_url(purchase))

    page = response.content.decode()
    form = response.context["adminform"].form
    assert form.fields["user"].label == "Customer"
    assert "Alice Liddell (alice@example.com)" in page  # the chosen customer, as the picker says


def test_the_purchase_list_counts_with_separators(staff_admin, buy, customer, product):
    buy(customer, product, quantity=136000)

    page = staff_admin.get(reverse("admin:purchases_purchase_changelist")).content.decode()

    assert '<td class="field-units">136,000</td>' in page


def test_deleting_a_customer_says_their_purchases_are_kept(staff_admin, buy, customer, product):
    buy(customer, product)
    buy(customer, product)
    AuthToken.objects.create(user=customer)

    response = staff_admin.get(reverse("admin:users_user_delete", args=[customer.pk]))

    page = html.unescape(response.content.decode())
    assert "Their purchases (2) are <strong>kept</strong>" in page
    assert "sales of customer" not in page and "Customer sales" not in page
    assert "Auth token:" not in page  # not a token's 128-character digest
    assert "their 1 API token stops working" in page
    staff_admin.post(reverse("admin:users_user_delete", args=[customer.pk]), {"post": "yes"})
    assert Purchase.objects.filter(user=None, customer_email="alice@example.com").count() == 2


# --- Refunds ---------------------------------------------------------------------------


def refund_url(purchase):
    return reverse("admin:purchases_purchase_refund", args=[purchase.pk])


def page_messages(response):
    return [str(message) for message in response.context["messages"]]


def test_the_purchase_page_has_a_refund_button_and_lists_its_refunds(
    staff_admin, staff, buy, customer, product
):
    purchase = buy(customer, product, quantity=3)
    refunds.refund_purchase(purchase, by=staff, quantity=1, reason="damaged", note="<b>cracked</b>")

    page = staff_admin.get(change_url(purchase)).content.decode()

    assert f'href="{refund_url(purchase)}" class="refund-link">Refund</a>' in page
    assert '<div class="readonly">USD 25.00</div>' in page  # net paid: 37.50 less 12.50
    table = page.split('<table class="refunds">')[1].split("</table>")[0]
    assert "<td>Damaged</td>" in table
    assert "&lt;b&gt;cracked&lt;/b&gt;" in table  # a note is text, never markup
    assert "<td>USD 12.50</td>" in table and "<td>staff@example.com</td>" in table


def test_refunding_on_the_refund_page_goes_through_the_service(
    staff_admin, staff, buy, customer, product
):
    purchase = buy(customer, product, quantity=3)

    form = staff_admin.get(refund_url(purchase))
    response = staff_admin.post(
        refund_url(purchase),
        {"quantity": "2", "amount": "20.00", "reason": "returned"},
        follow=True,
    )

    assert "Remaining to refund: <strong>3 units</strong> and <strong>USD 37.50</strong>" in (
        form.content.decode()
    )
    assert response.redirect_chain == [(change_url(purchase), 302)]
    assert page_messages(response) == [
        f"Refunded 2 units returned, USD 20.00 on purchase #{purchase.pk}."
    ]
    refund = Refund.objects.get()
    assert (refund.quantity, refund.amount, refund.created_by) == (2, Decimal("20.00"), staff)
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.net_total) == (2, Decimal("17.50"))


def test_what_the_service_refuses_shows_as_a_message_and_keeps_the_form(
    staff_admin, buy, customer, product
):
    purchase = buy(customer, product, quantity=1)

    response = staff_admin.post(refund_url(purchase), {"quantity": "2", "reason": "returned"})

    assert response.status_code == 200
    assert page_messages(response) == ["Only 1 of the 1 units bought remain to be returned."]
    assert response.context["form"]["quantity"].value() == "2"
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"quantity": "1"}, "reason"),
        ({"amount": "1,50", "reason": "goodwill"}, "amount"),
        ({"amount": "1.505", "reason": "goodwill"}, "amount"),
        ({"quantity": "one", "reason": "returned"}, "quantity"),
    ],
)
def test_the_refund_form_reads_units_money_and_a_reason(
    staff_admin, buy, customer, product, data, field
):
    purchase = buy(customer, product)

    response = staff_admin.post(refund_url(purchase), data)

    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert not Refund.objects.exists()


def test_the_refund_page_of_a_purchase_that_is_gone_goes_back_to_the_list(staff_admin):
    response = staff_admin.get(reverse("admin:purchases_purchase_refund", args=[999999]))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_a_correction_that_would_undo_refunds_is_refused_on_the_form(
    staff_admin, staff, buy, customer, product, other_product
):
    purchase = buy(customer, product, quantity=3)
    refunds.refund_purchase(purchase, by=staff, quantity=2, reason="returned")

    fewer = staff_admin.post(change_url(purchase), form_data(purchase, quantity=1))
    moved = staff_admin.post(change_url(purchase), form_data(purchase, product=other_product.pk))

    assert "2 units of this purchase have been returned: its quantity cannot be less." in (
        html.unescape(fewer.content.decode())
    )
    assert services.REFUNDED_KEEPS_PRODUCT in html.unescape(moved.content.decode())
    purchase.refresh_from_db()
    assert (purchase.quantity, purchase.product_id) == (3, product.pk)


def test_customer_page_shows_lifetime_totals_net_and_the_latest_refunds(
    staff_admin, staff, customer, make_product, buy
):
    purchase = buy(customer, make_product(price="100.00"), quantity=2)
    refunds.refund_purchase(purchase, by=staff, amount=Decimal("30.00"), reason="goodwill")

    page = staff_admin.get(reverse("admin:users_user_change", args=[customer.pk])).content.decode()

    assert re.search(r'field-total_spent.*?<div class="readonly">USD 170.00</div>', page, re.S)
    assert re.search(r'field-total_refunded.*?<div class="readonly">USD 30.00</div>', page, re.S)
    table = page.split('<table class="refunds">')[1].split("</table>")[0]
    assert f'<a href="{change_url(purchase)}">#{purchase.pk}</a>' in table
    assert "<td>Goodwill</td>" in table


def test_add_refuses_a_discontinued_product(staff_admin, customer, product):
    Product.objects.filter(pk=product.pk).update(active=False)

    response = staff_admin.post(
        ADD, {"user": customer.pk, "product": product.pk, "quantity": 1}, follow=True
    )

    assert response.status_code == 200
    assert "discontinued and can no longer be bought" in response.content.decode()
    assert not Purchase.objects.exists()


def test_only_roles_that_refund_see_the_refund_button_and_page(
    client, make_user, buy, customer, product
):
    purchase = buy(customer, product)
    client.force_login(in_role(make_user(is_staff=True), "Analyst"))  # reads purchases

    page = client.get(change_url(purchase))
    refund_page = client.get(refund_url(purchase))

    assert page.status_code == 200
    assert "refund-link" not in page.content.decode()
    assert refund_page.status_code == 403
