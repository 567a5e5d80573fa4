"""The sales totals: kept by every purchase write, rebuilt and checked from the purchases."""

import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, F, Sum
from django.utils import timezone

from products import services as product_services
from purchases import analytics, refunds, services, totals
from purchases.models import (
    CustomerMonth,
    CustomerSales,
    DailyRevenue,
    ProductSales,
    Purchase,
    Refund,
)
from shop.tests.integrity_helpers import waiting_on_a_lock
from users import services as user_services
from users.models import User

pytestmark = pytest.mark.django_db

MVC = "/purchases/analytic/most_valuable_customer"
MPP = "/purchases/analytic/most_popular_product"
TOP_CUSTOMERS = "/purchases/analytic/top_customers"
TOP_PRODUCTS = "/purchases/analytic/top_products"
EVER = {"since": datetime(1900, 1, 1, tzinfo=UTC), "until": datetime(9000, 1, 1, tzinfo=UTC)}
RANKINGS = [
    (analytics.top_customers, ("total_spent", "purchase_count")),
    (analytics.top_products, ("units_sold", "purchase_count")),
]


def figures(ranked, names):
    """`(id, *figures)` of each object of a ranking, in order."""
    return [(obj.pk, *(getattr(obj, name) for name in names)) for obj in ranked]


def customer_figures():
    """{user id: (spent, units, purchases)} from the totals, rows of zeros left out."""
    # Named columns: the migration test reads them on the schema of an older release.
    rows = CustomerSales.objects.with_purchases()
    return {
        pk: (spent / 100, units, purchases)
        for pk, spent, units, purchases in rows.values_list(
            "pk", "spent_cents", "units", "purchase_count"
        )
    }


def product_figures():
    """{product id: (units, purchases, revenue)} from the totals, rows of zeros left out."""
    rows = ProductSales.objects.with_purchases()
    return {
        pk: (units, purchases, revenue / 100)
        for pk, units, purchases, revenue in rows.values_list(
            "pk", "units_sold", "purchase_count", "revenue_cents"
        )
    }


# What a purchase keeps, net of its refunds, written out here as the tests' own reference.
NET = F("quantity") * F("unit_price") - F("refunded_amount")
UNITS = F("quantity") - F("refunded_quantity")


def aggregated_customers():
    rows = (
        Purchase.objects.exclude(user=None)
        .values("user_id")
        .annotate(spent=Sum(NET), units=Sum(UNITS), count=Count("*"))
        .order_by()
    )
    return {r["user_id"]: (r["spent"], r["units"], r["count"]) for r in rows}


def aggregated_products():
    rows = (
        Purchase.objects.values("product_id")
        .annotate(units=Sum(UNITS), count=Count("*"), paid=Sum(NET))
        .order_by()
    )
    return {r["product_id"]: (r["units"], r["count"], r["paid"]) for r in rows}


def assert_totals_match_purchases():
    assert customer_figures() == aggregated_customers()
    assert product_figures() == aggregated_products()
    assert totals.drift() == []


# --- Every write keeps them ------------------------------------------------------------


def test_a_new_purchase_counts_for_its_customer_and_its_product(customer, product):
    services.create_purchase(user=customer, product=product, quantity=3)  # 3 x 12.50

    assert customer_figures() == {customer.pk: (Decimal("37.5"), 3, 1)}
    assert product_figures() == {product.pk: (3, 1, Decimal("37.5"))}
    assert_totals_match_purchases()


def test_a_quantity_change_moves_the_totals_by_the_difference(customer, product):
    purchase = services.create_purchase(user=customer, product=product, quantity=3)
    services.create_purchase(user=customer, product=product, quantity=1)

    services.update_purchase(purchase, quantity=1)

    assert customer_figures() == {customer.pk: (Decimal("25"), 2, 2)}
    assert product_figures() == {product.pk: (2, 2, Decimal("25"))}
    assert_totals_match_purchases()


def test_a_product_change_moves_units_and_reprices_the_customers_spend(
    customer, product, other_product
):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)

    services.update_purchase(purchase, product=other_product)  # 2 x 3.99 now

    assert customer_figures() == {customer.pk: (Decimal("7.98"), 2, 1)}
    assert product_figures() == {other_product.pk: (2, 1, Decimal("7.98"))}
    assert ProductSales.objects.get(pk=product.pk).purchase_count == 0  # kept, unranked
    assert_totals_match_purchases()


def test_a_customer_change_moves_the_purchase_between_their_totals(
    customer, other_customer, product
):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)

    services.update_purchase(purchase, user=other_customer, quantity=4)

    assert customer_figures() == {other_customer.pk: (Decimal("50"), 4, 1)}
    assert product_figures() == {product.pk: (4, 1, Decimal("50"))}
    assert_totals_match_purchases()


def test_a_correction_that_changes_nothing_leaves_the_totals_alone(customer, product):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)

    services.update_purchase(purchase, user=customer, product=product, quantity=2)

    assert customer_figures() == {customer.pk: (Decimal("25"), 2, 1)}
    assert_totals_match_purchases()


def test_a_deleted_purchase_leaves_the_totals_and_the_rankings(customer, product):
    purchase = services.create_purchase(user=customer, product=product)

    services.delete_purchase(purchase)

    assert customer_figures() == {} and product_figures() == {}
    assert analytics.most_valuable_customer() is None
    assert analytics.most_popular_product() is None
    assert list(analytics.top_customers(limit=10)) == []
    assert_totals_match_purchases()


def test_deleting_a_customer_deletes_their_totals_but_their_purchases_still_count_for_products(
    customer, other_customer, product
):
    services.create_purchase(user=customer, product=product, quantity=5)
    services.create_purchase(user=other_customer, product=product, quantity=1)

    user_services.delete_user(customer)

    assert not CustomerSales.objects.filter(pk=customer.pk).exists()
    assert customer_figures() == {other_customer.pk: (Decimal("12.5"), 1, 1)}
    assert product_figures() == {product.pk: (6, 2, Decimal("75"))}
    assert analytics.most_valuable_customer().pk == other_customer.pk
    assert_totals_match_purchases()


def test_deleting_a_customer_outside_the_service_deletes_their_totals_too(customer, product):
    services.create_purchase(user=customer, product=product)

    customer.delete()  # Django's collector: the admin's bulk delete, a shell

    assert CustomerSales.objects.count() == 0
    assert_totals_match_purchases()


def test_a_deleted_customers_purchase_moved_to_customers_counts_for_each_in_turn(
    make_user, product
):
    gone, first, second = make_user(), make_user(), make_user()
    purchase = services.create_purchase(user=gone, product=product, quantity=2)
    user_services.delete_user(gone)
    assert customer_figures() == {}

    services.update_purchase(purchase, user=first)
    assert customer_figures() == {first.pk: (Decimal("25"), 2, 1)}
    assert_totals_match_purchases()

    services.update_purchase(purchase, user=second)
    assert customer_figures() == {second.pk: (Decimal("25"), 2, 1)}
    assert_totals_match_purchases()

    services.update_purchase(purchase, user=first)
    assert customer_figures() == {first.pk: (Decimal("25"), 2, 1)}
    assert product_figures() == {product.pk: (2, 1, Decimal("25"))}
    assert_totals_match_purchases()


def test_a_deleted_customers_purchase_counts_for_its_product_when_changed_or_deleted(
    customer, product, other_product
):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    user_services.delete_user(customer)

    services.update_purchase(purchase, quantity=3, product=other_product)
    assert product_figures() == {other_product.pk: (3, 1, Decimal("11.97"))}
    assert_totals_match_purchases()

    services.delete_purchase(purchase)
    assert product_figures() == {}
    assert_totals_match_purchases()


def test_a_quantity_below_one_is_refused_and_the_totals_do_not_move(customer, product):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)

    with pytest.raises(IntegrityError), transaction.atomic():
        services.update_purchase(purchase, quantity=0)

    assert customer_figures() == {customer.pk: (Decimal("25"), 2, 1)}
    assert_totals_match_purchases()


def test_a_later_price_change_does_not_touch_the_totals(customer, product):
    services.create_purchase(user=customer, product=product, quantity=2)

    product_services.update_product(product, price=Decimal("99.00"))
    services.create_purchase(user=customer, product=product, quantity=1)

    assert customer_figures() == {customer.pk: (Decimal("124"), 3, 2)}
    assert product_figures() == {product.pk: (3, 2, Decimal("124"))}
    assert_totals_match_purchases()


def test_a_product_without_purchases_can_still_be_deleted_with_its_totals(customer, product):
    purchase = services.create_purchase(user=customer, product=product)
    services.delete_purchase(purchase)

    product_services.delete_product(product)

    assert not ProductSales.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_correcting_a_purchase_while_its_customer_is_deleted_waits_instead_of_deadlocking(
    postgres_only, customer, product
):
    """The deletion locks the customer, removes their totals, then detaches their purchases.

    A correction of one of those purchases locks the customer before the purchase: it
    waits for the deletion, then finds the purchase detached. (Locking the purchase
    first, it would wait for the deleted totals row while the deletion waited for the
    purchase: a deadlock, one of the two failing.)
    """
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    outcome = {}

    def correct():
        try:
            outcome["purchase"] = services.update_purchase(purchase.pk, quantity=3)
        except Exception as error:  # reported below, in the test's thread
            outcome["error"] = error
        finally:
            connection.close()

    with transaction.atomic():
        # The deletion under way: the customer's row locked, their totals deleted.
        User.objects.select_for_update().filter(pk=customer.pk).get()
        CustomerSales.objects.filter(pk=customer.pk).delete()
        corrector = threading.Thread(target=correct)
        corrector.start()
        assert waiting_on_a_lock(), outcome
        user_services.delete_user(customer)  # detaches the purchase, deletes the customer
    corrector.join(timeout=30)

    assert "error" not in outcome, outcome
    corrected = outcome["purchase"]
    assert (corrected.user_id, corrected.quantity) == (None, 3)
    assert customer_figures() == {}
    assert product_figures() == {product.pk: (3, 1, Decimal("37.5"))}
    assert_totals_match_purchases()


# --- All-time answers read the totals, and equal the aggregate --------------------------


@pytest.fixture
def sales(make_user, make_product):
    """Ties included: two customers spend 20.00 each, two products sell 4 units each."""
    ann, ben, cat = make_user(), make_user(), make_user()
    pen, ink, pad = make_product(price="2.00"), make_product(price="5.00"), make_product("2.50")
    services.create_purchase(user=ben, product=pen, quantity=4)  # ben 8.00
    services.create_purchase(user=ben, product=pad, quantity=4)  # ben 10.00
    services.create_purchase(user=ann, product=ink, quantity=4)  # ann 20.00
    services.create_purchase(user=ben, product=pen, quantity=1)  # ben 20.00 (a tie)
    services.create_purchase(user=cat, product=ink, quantity=1)
    return {"ann": ann, "ben": ben, "cat": cat}


@pytest.mark.parametrize("path", [MVC, MPP, TOP_CUSTOMERS, TOP_PRODUCTS])
def test_all_time_answers_equal_the_aggregate_over_the_purchases(staff_client, sales, path):
    all_time = staff_client.get(path)
    windowed = staff_client.get(path, {"since": "1900-01-01", "until": "9000-01-01"})

    assert all_time.status_code == windowed.status_code == 200
    assert all_time.json() == windowed.json()


def test_all_time_rankings_carry_the_windowed_figures_and_types(sales):
    for ranking, names in RANKINGS:
        all_time = figures(ranking(limit=100), names)
        assert all_time == figures(ranking(**EVER, limit=100), names)
        assert [type(value) for row in all_time for value in row] == [
            type(value) for row in figures(ranking(**EVER, limit=100), names) for value in row
        ]


def test_all_time_ties_break_by_the_lowest_id(staff_client, sales):
    assert staff_client.get(MVC).json()["id"] == min(sales["ann"].pk, sales["ben"].pk)
    top = staff_client.get(TOP_CUSTOMERS).json()
    assert [c["total_spent"] for c in top] == ["20.00", "20.00", "5.00"]


@pytest.mark.parametrize("path", [MVC, MPP])
def test_all_time_endpoints_make_one_query_after_token_and_permissions_and_read_no_purchase(
    staff_client, sales, path, django_assert_num_queries
):
    # The token, the staff member's permissions (their own, their role's), the ranking.
    with django_assert_num_queries(4) as queries:
        response = staff_client.get(path)

    assert response.status_code == 200
    sql = [query["sql"] for query in queries.captured_queries]
    assert not any("purchases_purchase" in statement for statement in sql), sql
    assert "sales" in sql[-1]  # the ranking, with its object joined


@pytest.mark.parametrize("path", [TOP_CUSTOMERS, TOP_PRODUCTS])
def test_all_time_top_lists_make_one_query_whatever_the_limit(
    staff_client, sales, path, django_assert_num_queries
):
    # The token, the staff member's permissions (their own, their role's), the ranking.
    with django_assert_num_queries(4):
        assert len(staff_client.get(path, {"limit": 100}).json()) == 3


@pytest.mark.parametrize("path", [MVC, MPP])
def test_all_time_is_404_when_every_purchase_was_deleted(staff_client, customer, product, path):
    services.delete_purchase(services.create_purchase(user=customer, product=product))

    response = staff_client.get(path)
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "No purchases in this window."},
    )


def test_all_time_totals_past_64_bit_cents_stay_exact_on_postgresql(
    postgres_only, make_user, make_product
):
    whale = make_user()
    dearest = make_product(price="9999999999.99")
    for _ in range(10):
        services.create_purchase(user=whale, product=dearest, quantity=1_000_000)

    (customer,) = analytics.top_customers()
    assert customer.total_spent == Decimal("99999999999900000.00")
    assert_totals_match_purchases()


# --- Rebuild and check -------------------------------------------------------------------


def drift_by_raw_sql(user, product):
    """Totals that disagree with the purchases, as a manual SQL fix or a bulk load leaves them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE purchases_customersales SET spent_cents = spent_cents + 100 WHERE user_id = %s",
            [user.pk],
        )
        cursor.execute(
            "UPDATE purchases_purchase SET quantity = quantity + 1 WHERE product_id = %s",
            [product.pk],
        )


def test_rebuild_fixes_drift_made_by_raw_sql(customer, product, other_product):
    services.create_purchase(user=customer, product=product, quantity=2)
    services.create_purchase(user=customer, product=other_product)
    drift_by_raw_sql(customer, product)
    assert totals.drift() != []

    rebuilt = totals.rebuild()

    assert (rebuilt.customers, rebuilt.products, rebuilt.purchases) == (1, 2, 2)
    assert_totals_match_purchases()
    assert customer_figures() == {customer.pk: (Decimal("41.49"), 4, 2)}


def test_a_refund_takes_its_money_and_units_off_the_totals_not_the_purchase(
    staff, customer, product
):
    purchase = services.create_purchase(user=customer, product=product, quantity=3)  # 37.50
    refunds.refund_purchase(
        purchase, by=staff, quantity=1, amount=Decimal("10.00"), reason="damaged"
    )

    assert customer_figures() == {customer.pk: (Decimal("27.50"), 2, 1)}
    assert product_figures() == {product.pk: (2, 1, Decimal("27.50"))}
    assert_totals_match_purchases()


def test_deleting_a_refunded_purchase_takes_off_only_what_remained(staff, customer, product):
    kept = services.create_purchase(user=customer, product=product)
    purchase = services.create_purchase(user=customer, product=product, quantity=3)
    refunds.refund_purchase(purchase, by=staff, quantity=2, reason="returned")

    services.delete_purchase(purchase)

    assert customer_figures() == {customer.pk: (kept.total, 1, 1)}
    assert_totals_match_purchases()


def test_the_totals_before_refunds_keep_what_was_paid_through_refunds_and_deletions(
    staff, customer, product
):
    kept = services.create_purchase(user=customer, product=product, quantity=2)  # 25.00
    purchase = services.create_purchase(user=customer, product=product, quantity=3)  # 37.50
    refunds.refund_purchase(purchase, by=staff, quantity=1, amount="10.00", reason="damaged")

    before_refunds = {
        "paid": CustomerSales.objects.get(pk=customer.pk).paid_cents,
        "units": ProductSales.objects.get(pk=product.pk).units_purchased,
    }
    services.delete_purchase(kept)

    assert before_refunds == {"paid": 6250, "units": 5}
    assert CustomerSales.objects.get(pk=customer.pk).paid_cents == 3750
    assert ProductSales.objects.get(pk=product.pk).units_purchased == 3
    assert_totals_match_purchases()


def test_a_drifting_total_before_refunds_is_reported_and_rebuilt(customer, product):
    services.create_purchase(user=customer, product=product, quantity=2)
    CustomerSales.objects.filter(pk=customer.pk).update(paid_cents=1)

    (found,) = totals.drift()
    totals.rebuild()

    assert (found.kind, found.stored["paid_cents"], found.computed["paid_cents"]) == (
        "customer",
        1,
        2500,
    )
    assert CustomerSales.objects.get(pk=customer.pk).paid_cents == 2500


def refund_around_the_service(purchase):
    """A refund inserted as a bulk load of old refunds would: the purchase is not told."""
    return Refund.objects.create(purchase=purchase, quantity=1, amount="12.50", reason="other")


def test_a_refund_written_around_the_service_is_drift_until_rebuilt(customer, product, capsys):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    refund_around_the_service(purchase)

    assert [(d.kind, d.pk, d.stored, d.computed) for d in totals.drift()] == [
        (
            "purchase",
            purchase.pk,
            {"refunded_quantity": 0, "refunded_cents": 0},
            {"refunded_quantity": 1, "refunded_cents": 1250},
        ),
        (  # and the refund's day has not lost what it gave back
            "day",
            timezone.localdate(purchase.created_at),
            {"revenue_cents": 2500, "purchase_count": 1},
            {"revenue_cents": 1250, "purchase_count": 1},
        ),
    ]
    with pytest.raises(CommandError) as raised:
        call_command("rebuild_sales_totals", "--check")
    assert ("1 purchases' refunded figures, 0 customer and 0 product rows, 1 days' revenue") in str(
        raised.value
    )
    assert (
        f"purchase {purchase.pk}: stored units returned 0, refunded 0.00;"
        " from its refunds units returned 1, refunded 12.50"
    ) in capsys.readouterr().out

    call_command("rebuild_sales_totals")

    assert "Set the refunded figures of 1 purchases from their refunds." in (
        capsys.readouterr().out
    )
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.refunded_amount) == (1, Decimal("12.50"))
    assert customer_figures() == {customer.pk: (Decimal("12.50"), 1, 1)}
    assert_totals_match_purchases()


def test_refunded_figures_with_no_refund_behind_them_are_drift_and_rebuilt_to_zero(
    customer, product
):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    Purchase.objects.filter(pk=purchase.pk).update(refunded_quantity=1)

    assert [d.kind for d in totals.drift()] == ["purchase", "customer", "product"]
    rebuilt = totals.rebuild()

    assert rebuilt.purchases_corrected == 1
    assert Purchase.objects.get(pk=purchase.pk).refunded_quantity == 0
    assert_totals_match_purchases()


def test_rebuild_after_a_bulk_load_gives_what_the_aggregate_gives(make_user, product):
    customers = [make_user() for _ in range(3)]
    Purchase.objects.bulk_create(
        Purchase(
            user=customers[n % 3],
            product=product,
            quantity=1 + n % 4,
            unit_price=Decimal(f"{n}.25"),
            customer_email="x@example.com",
            product_sku=product.sku,
            product_name=product.name,
        )
        for n in range(20)
    )
    assert analytics.most_valuable_customer() is None  # loaded around the service

    totals.rebuild()

    for ranking, names in RANKINGS:
        assert figures(ranking(limit=10), names) == figures(ranking(**EVER, limit=10), names)
    assert_totals_match_purchases()


def test_rebuild_drops_rows_of_zeros_and_customers_without_purchases(customer, product):
    services.delete_purchase(services.create_purchase(user=customer, product=product))
    assert CustomerSales.objects.count() == ProductSales.objects.count() == 1

    totals.rebuild()

    assert CustomerSales.objects.count() == ProductSales.objects.count() == 0


def test_check_says_no_drift_and_exits_normally_when_the_totals_agree(customer, product, capsys):
    services.create_purchase(user=customer, product=product)

    call_command("rebuild_sales_totals", "--check")

    assert "no drift" in capsys.readouterr().out


def test_check_lists_the_drifting_rows_and_exits_1_without_writing(
    customer, other_customer, product, capsys
):
    services.create_purchase(user=customer, product=product, quantity=2)
    services.create_purchase(user=other_customer, product=product)
    drift_by_raw_sql(customer, product)
    stored = (
        list(CustomerSales.objects.values_list()),
        list(ProductSales.objects.values_list()),
        list(DailyRevenue.objects.values_list()),
    )

    with pytest.raises(CommandError) as raised:
        call_command("rebuild_sales_totals", "--check")

    assert raised.value.returncode == 1
    assert "2 customer and 1 product rows, 2 customers' months, 1 days' revenue" in str(
        raised.value
    )
    out = capsys.readouterr().out
    assert f"customer {customer.pk}: stored spent 26.00, units 2, purchases 1, paid 25.00;" in out
    assert "from the purchases spent 37.50, units 3, purchases 1, paid 37.50" in out
    assert (
        f"customer {other_customer.pk}: stored spent 12.50, units 1, purchases 1, paid 12.50;"
        in out
    )
    assert (
        f"product {product.pk}: stored units 3, purchases 2, revenue 37.50, units purchased 3;"
        in out
    )
    today = timezone.localdate()
    assert f"day {today}: stored revenue 37.50, purchases 2;" in out
    assert "from the purchases revenue 62.50, purchases 2" in out
    assert "2 customer and 1 product rows, 2 customers' months, 1 days' revenue drift" in out
    assert (
        list(CustomerSales.objects.values_list()),
        list(ProductSales.objects.values_list()),
        list(DailyRevenue.objects.values_list()),
    ) == stored


def test_check_reports_rows_missing_on_either_side(customer, product, other_product):
    services.create_purchase(user=customer, product=product)
    CustomerSales.objects.all().delete()
    Purchase.objects.update(product=other_product)  # around the service

    found = {(d.kind, d.pk): (d.stored, d.computed) for d in totals.drift()}

    sold = {"units_sold": 1, "purchase_count": 1, "revenue_cents": 1250, "units_purchased": 1}
    spent = {"spent_cents": 1250, "units": 1, "purchase_count": 1, "paid_cents": 1250}
    assert found == {
        ("customer", customer.pk): (None, spent),
        ("product", product.pk): (sold, None),
        ("product", other_product.pk): (None, sold),
    }


def test_the_command_rebuilds_and_says_how_much_it_did(customer, product, capsys):
    services.create_purchase(user=customer, product=product, quantity=2)
    drift_by_raw_sql(customer, product)

    call_command("rebuild_sales_totals")

    out = capsys.readouterr().out
    assert out.startswith("Rebuilt the sales totals from 1 purchases in ")
    assert out.rstrip().endswith(
        " s: 1 customers, 1 products, 1 customers' months, 1 days' revenue."
    )
    call_command("rebuild_sales_totals", "--check")


def manage(*args):
    """Runs `manage.py` in a process of its own on the test database (committed data only)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    # The replica too: `manage.py check` (shop.W001) compares it with the primary.
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_REPLICA_URL": url,
        "DJANGO_SETTINGS_MODULE": "shop.settings",
    }
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_the_command_line_exits_0_without_drift_1_with_drift_and_rebuilds(
    postgres_only, customer, product
):
    services.create_purchase(user=customer, product=product, quantity=2)

    clean = manage("rebuild_sales_totals", "--check")
    assert (clean.returncode, clean.stderr) == (0, ""), clean.stderr
    assert "no drift" in clean.stdout

    drift_by_raw_sql(customer, product)
    drifting = manage("rebuild_sales_totals", "--check")
    assert drifting.returncode == 1
    assert "CommandError: the sales totals drift from the purchases" in drifting.stderr
    assert f"customer {customer.pk}: stored spent 26.00" in drifting.stdout

    rebuilt = manage("rebuild_sales_totals")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Rebuilt the sales totals from 1 purchases" in rebuilt.stdout
    assert totals.drift() == []


# --- The migration fills the totals of a shop with history -------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_computes_the_totals_of_existing_purchases(customer, product, make_user):
    gone = make_user()
    services.create_purchase(user=customer, product=product, quantity=2)
    services.create_purchase(user=gone, product=product, quantity=3)
    user_services.delete_user(gone)
    executor = MigrationExecutor(connection)
    executor.migrate([("purchases", "0001_initial")])  # before the totals existed
    try:
        executor.loader.build_graph()
        executor.migrate([("purchases", "0002_sales_totals")])

        assert customer_figures() == {customer.pk: (Decimal("25"), 2, 1)}
        assert product_figures() == {product.pk: (5, 2, Decimal("62.5"))}
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert_totals_match_purchases()  # checked by the latest code, on the latest schema


def test_deltas_name_every_figure_of_the_rows_they_change():
    before = totals.Line(
        user_id=1, product_id=7, units=2, net_cents=500, paid_cents=600, quantity=3
    )
    after = totals.Line(user_id=1, product_id=8, units=2, net_cents=500, paid_cents=600, quantity=3)

    changes = totals.deltas(before, after)

    assert changes[totals.CUSTOMERS] == {}  # same customer, same spend: no change
    assert changes[totals.PRODUCTS] == {
        7: {"units_sold": -2, "purchase_count": -1, "revenue_cents": -500, "units_purchased": -3},
        8: {"units_sold": 2, "purchase_count": 1, "revenue_cents": 500, "units_purchased": 3},
    }


# --- The days' revenue -----------------------------------------------------------------


def day_revenue():
    """`{day: (revenue cents, purchases)}` as `DailyRevenue` holds them, its slots summed."""
    rows = DailyRevenue.objects.values("day").annotate(
        cents=Sum("revenue_cents"), purchases=Sum("purchase_count")
    )
    return {
        row["day"]: (int(row["cents"]), row["purchases"])
        for row in rows
        if row["cents"] or row["purchases"]
    }


def test_the_days_revenue_follows_each_purchase_write_and_refund(
    staff, customer, product, other_product
):
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    Purchase.objects.filter(pk=purchase.pk).update(created_at=F("created_at") - timedelta(days=1))
    totals.rebuild_days()  # dated around the service, as a load of past orders is
    assert day_revenue() == {yesterday: (2500, 1)}

    purchase = services.update_purchase(purchase, quantity=3)
    assert day_revenue() == {yesterday: (3750, 1)}

    services.update_purchase(purchase, product=other_product)  # re-priced at 3.99
    refunds.refund_purchase(purchase, by=staff, amount=Decimal("5.00"), reason="goodwill")
    assert day_revenue() == {yesterday: (1197, 1), today: (-500, 0)}  # the refund's own day
    assert totals.drift() == []

    services.delete_purchase(purchase)  # its refund goes with it
    assert day_revenue() == {}
    assert totals.drift() == []


def test_deleting_several_purchases_takes_their_refunds_off_the_days(staff, customer, product):
    refunded = services.create_purchase(user=customer, product=product, quantity=2)
    kept = services.create_purchase(user=customer, product=product)
    other = services.create_purchase(user=customer, product=product)
    refunds.refund_purchase(refunded, by=staff, quantity=1, reason="returned")

    services.delete_purchases([refunded, other])

    assert day_revenue() == {timezone.localdate(kept.created_at): (1250, 1)}
    assert totals.drift() == []


def test_the_rebuild_puts_back_the_days_revenue(customer, product):
    purchase = services.create_purchase(user=customer, product=product)
    DailyRevenue.objects.update(revenue_cents=1, purchase_count=7)

    assert [d.kind for d in totals.drift()] == ["day"]
    rebuilt = totals.rebuild()

    assert rebuilt.days == 1
    assert day_revenue() == {timezone.localdate(purchase.created_at): (1250, 1)}
    assert totals.drift() == []


# --- The customers' months ---------------------------------------------------------------


def customer_months():
    """`{(user id, month): paid cents}` as `CustomerMonth` holds them, rows at zero left out."""
    return {
        (row.user_id, row.month): int(row.paid_cents)
        for row in CustomerMonth.objects.all()
        if row.paid_cents
    }


def test_the_customers_months_follow_each_purchase_write_and_not_refunds(
    staff, customer, other_customer, product, other_product
):
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    in_last_month = timezone.make_aware(datetime.combine(last_month.replace(day=15), time(12)))
    Purchase.objects.filter(pk=purchase.pk).update(created_at=in_last_month)
    totals.rebuild()  # dated around the service, as a load of past orders is
    services.create_purchase(user=customer, product=other_product)
    assert customer_months() == {(customer.pk, last_month): 2500, (customer.pk, this_month): 399}

    purchase = services.update_purchase(purchase, quantity=3)
    assert customer_months()[customer.pk, last_month] == 3750

    refunds.refund_purchase(purchase, by=staff, quantity=1, reason="returned")
    assert customer_months()[customer.pk, last_month] == 3750  # what was paid, before refunds

    purchase = services.update_purchase(purchase, user=other_customer)
    assert customer_months() == {
        (other_customer.pk, last_month): 3750,
        (customer.pk, this_month): 399,
    }
    assert totals.drift() == []

    services.delete_purchase(purchase)
    assert customer_months() == {(customer.pk, this_month): 399}
    assert totals.drift() == []


def test_a_customers_month_is_the_shops_month(settings, customer, product):
    settings.TIME_ZONE = "America/New_York"
    purchase = services.create_purchase(user=customer, product=product)
    # 02:00 UTC on 1 March is still February in New York.
    Purchase.objects.filter(pk=purchase.pk).update(created_at=datetime(2024, 3, 1, 2, tzinfo=UTC))

    totals.rebuild()

    assert customer_months() == {(customer.pk, date(2024, 2, 1)): 1250}
    services.update_purchase(Purchase.objects.get(pk=purchase.pk), quantity=2)
    assert customer_months() == {(customer.pk, date(2024, 2, 1)): 2500}
    assert totals.drift() == []


def test_deleting_a_customer_deletes_their_months(customer, other_customer, product):
    services.create_purchase(user=customer, product=product)
    services.create_purchase(user=other_customer, product=product)

    user_services.delete_user(customer)

    assert [user_id for user_id, _ in customer_months()] == [other_customer.pk]
    assert totals.drift() == []


def test_a_drifting_month_is_reported_by_the_check_and_put_back_by_the_rebuild(
    customer, product, capsys
):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    month = timezone.localdate(purchase.created_at).replace(day=1)
    CustomerMonth.objects.filter(user=customer).update(paid_cents=1)
    CustomerMonth.objects.create(user=customer, month=date(2020, 1, 1), paid_cents=700)

    assert [(d.kind, d.pk, d.stored, d.computed) for d in totals.drift()] == [
        ("month", (customer.pk, date(2020, 1, 1)), {"paid_cents": 700}, None),
        ("month", (customer.pk, month), {"paid_cents": 1}, {"paid_cents": 2500}),
    ]
    with pytest.raises(CommandError) as raised:
        call_command("rebuild_sales_totals", "--check")
    assert "0 customer and 0 product rows, 2 customers' months" in str(raised.value)
    out = capsys.readouterr().out
    assert f"customer {customer.pk} in {month:%Y-%m}: stored paid 0.01;" in out
    assert "from the purchases paid 25.00" in out
    assert f"customer {customer.pk} in 2020-01: stored paid 7.00; from the purchases no row" in out

    assert totals.rebuild().months == 1
    assert customer_months() == {(customer.pk, month): 2500}
    assert totals.drift() == []
