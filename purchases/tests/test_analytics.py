"""The analytics querysets and endpoints, against expectations computed in Python.

All-time answers come from the sales totals (`purchases.totals`), windowed ones from
aggregates over the purchases: both are held to the same Python model.
"""

import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from products import services as product_services
from products.models import Product
from purchases import analytics, refunds, services, totals
from purchases.models import Purchase, Refund
from users import services as user_services
from users.models import User

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MVC = "/purchases/analytic/most_valuable_customer"
MPP = "/purchases/analytic/most_popular_product"


def spenders(ranked):
    """`(id, total_spent, purchase_count)` of each customer of a ranking, in order."""
    return [(user.pk, user.total_spent, user.purchase_count) for user in ranked]


def sellers(ranked):
    """`(id, units_sold, purchase_count)` of each product of a ranking, in order."""
    return [(product.pk, product.units_sold, product.purchase_count) for product in ranked]


# --- Property: the querysets agree with a plain Python computation on random data ------

purchase_rows = st.lists(
    st.tuples(
        st.integers(0, 4),  # customer index (4: a deleted customer)
        st.integers(0, 3),  # product index
        st.integers(1, 5),  # quantity
        st.integers(1, 3000),  # unit price in cents (small, so that ties happen)
        st.integers(0, 9),  # day offset
    ),
    max_size=30,
)
windows = st.tuples(st.none() | st.integers(0, 10), st.none() | st.integers(0, 10))


def expected_rankings(rows, users, products, since, until):
    spent, bought, units, sold = defaultdict(Decimal), defaultdict(int), defaultdict(int), {}
    for customer, product, quantity, cents, day in rows:
        at = T0 + timedelta(days=day)
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        user = users[customer]
        if user is not None:
            spent[user.pk] += quantity * Decimal(cents) / 100
            bought[user.pk] += 1
        pk = products[product].pk
        units[pk] += quantity
        sold[pk] = sold.get(pk, 0) + 1
    customers = sorted(spent, key=lambda pk: (-spent[pk], pk))
    top_products = sorted(units, key=lambda pk: (-units[pk], pk))
    return (
        [(pk, spent[pk], bought[pk]) for pk in customers],
        [(pk, units[pk], sold[pk]) for pk in top_products],
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=purchase_rows, window=windows)
def test_rankings_match_python(rows, window, db):
    with transaction.atomic():
        sid = transaction.savepoint()
        try:
            users = [
                User.objects.create_user(email=f"h{i}@example.com", first_name="H", last_name="H")
                for i in range(5)
            ]
            products = [
                Product.objects.create(sku=f"H-{i}", name="H", price=Decimal("1.00"))
                for i in range(4)
            ]
            Purchase.objects.bulk_create(
                Purchase(
                    user=users[c],
                    product=products[p],
                    quantity=q,
                    unit_price=Decimal(cents) / 100,
                    customer_email=users[c].email,
                    product_sku=products[p].sku,
                    product_name="H",
                    created_at=T0 + timedelta(days=day, hours=1),
                )
                for c, p, q, cents, day in rows
            )
            totals.rebuild()  # the rows were loaded around the service, as a bulk load is
            users[4].delete()  # their purchases stay, without a user
            users[4] = None
            since, until = (None if d is None else T0 + timedelta(days=d) for d in window)
            if since is not None and until is not None and since >= until:
                since, until = until, since
            customers, top = expected_rankings(
                [(c, p, q, cents, day) for c, p, q, cents, day in rows],
                users,
                products,
                since,
                until,
            )
            # rows were stamped at +1h; the window bounds are midnights, so compare on days
            got_customers = spenders(analytics.top_customers(since=since, until=until, limit=100))
            got_products = sellers(analytics.top_products(since=since, until=until, limit=100))
            assert got_customers == customers
            assert got_products == top
            mvc = analytics.most_valuable_customer(since=since, until=until)
            assert (mvc.pk if mvc else None) == (customers[0][0] if customers else None)
            mpp = analytics.most_popular_product(since=since, until=until)
            assert (mpp.pk if mpp else None) == (top[0][0] if top else None)
        finally:
            transaction.savepoint_rollback(sid)


# --- Examples ------------------------------------------------------------------------


@pytest.fixture
def shop(make_user, make_product, buy):
    """Three customers, three products, purchases on 1, 2 and 3 January 2024."""
    ann, ben, cat = (make_user(email=f"{n}@example.com") for n in ("ann", "ben", "cat"))
    pen, ink, pad = (make_product(price=p) for p in ("2.00", "5.00", "10.00"))
    buy(ann, pen, 10, at=T0)  # ann 20.00, pen 10 units
    buy(ben, pad, 1, at=T0 + timedelta(days=1))  # ben 10.00
    buy(ben, ink, 3, at=T0 + timedelta(days=1, hours=12))  # ben 25.00, ink 3 units
    buy(cat, ink, 1, at=T0 + timedelta(days=2))  # cat 5.00
    return {"ann": ann, "ben": ben, "cat": cat, "pen": pen, "ink": ink, "pad": pad}


def test_most_valuable_customer(staff_client, shop):
    response = staff_client.get(MVC)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == shop["ben"].pk
    assert body["email"] == "ben@example.com"
    assert (body["total_spent"], body["purchase_count"]) == ("25.00", 2)
    assert set(body) == {
        "id",
        "first_name",
        "last_name",
        "email",
        "gender",
        "date_joined",
        "total_spent",
        "purchase_count",
    }


def test_most_popular_product(staff_client, shop):
    body = staff_client.get(MPP).json()
    assert (body["id"], body["units_sold"], body["purchase_count"]) == (shop["pen"].pk, 10, 1)
    assert body["price"] == "2.00"


def test_ties_go_to_the_lowest_id(staff_client, shop, buy):
    # ann: 20.00 + 5.00 = 25.00, level with ben; ann has the lower id.
    buy(shop["ann"], shop["ink"], 1, at=T0)
    assert staff_client.get(MVC).json()["id"] == shop["ann"].pk
    # ink: 3 + 1 + 1 + 5 = 10 units, level with pen; pen has the lower id.
    buy(shop["cat"], shop["ink"], 5, at=T0)
    assert staff_client.get(MPP).json()["id"] == shop["pen"].pk


@pytest.mark.parametrize(
    "query, customer, spent",
    [
        ("?since=2024-01-02", "ben", "25.00"),
        ("?until=2024-01-02", "ann", "20.00"),  # until is excluded: ben bought on the 2nd
        ("?since=2024-01-02&until=2024-01-02T12:00:00Z", "ben", "10.00"),
        ("?since=2024-01-02T12:00:00%2B00:00", "ben", "15.00"),  # an explicit offset
        ("?since=2024-01-02T13:00:00%2B01:00", "ben", "15.00"),  # = 12:00 UTC
        ("?since=2024-01-03", "cat", "5.00"),
        ("?since=2024-01-01T00:00:00&until=2024-01-01T00:00:01", "ann", "20.00"),
    ],
)
def test_windows_are_half_open(staff_client, shop, query, customer, spent):
    body = staff_client.get(MVC + query).json()
    assert (body["id"], body["total_spent"]) == (shop[customer].pk, spent)


@pytest.mark.parametrize("path", [MVC, MPP])
@pytest.mark.parametrize("query", ["?since=2025-01-01", "?until=2024-01-01", "?until=2023-06-01"])
def test_empty_window_is_404(staff_client, shop, path, query):
    response = staff_client.get(path + query)
    assert response.status_code == 404
    assert response.json() == {"detail": "No purchases in this window."}


@pytest.mark.parametrize("path", [MVC, MPP])
def test_no_purchases_at_all_is_404(staff_client, path):
    assert staff_client.get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        MVC,
        MPP,
        *(MVC.replace("most_valuable_customer", n) for n in ("top_customers", "top_products")),
    ],
)
@pytest.mark.parametrize(
    "query, field",
    [
        ("?since=yesterday", "since"),
        ("?until=2024-02-30", "until"),
        ("?since=2024-01-01T25:00", "since"),
        ("?since=2024-01-02&until=2024-01-01", "until"),
        ("?since=2024-01-02&until=2024-01-02", "until"),
        ("?since=0001-01-01T00:00:00%2B01:00", "since"),
        ("?until=9999-12-31T23:59:59-01:00", "until"),
        ("?since=" + "9" * 100, "since"),
    ],
)
def test_invalid_window_is_400_naming_the_parameter(staff_client, path, query, field):
    response = staff_client.get(path + query)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_a_price_change_does_not_rewrite_history(staff_client, shop):
    shop["pen"].price = Decimal("100.00")
    shop["pen"].save()
    body = staff_client.get(MVC).json()
    assert (body["id"], body["total_spent"]) == (shop["ben"].pk, "25.00")


def test_a_deleted_customer_is_left_out_of_the_ranking_not_of_the_products(staff_client, shop, buy):
    buy(shop["cat"], shop["pad"], 10, at=T0)  # cat: 105.00, pad 11 units
    assert staff_client.get(MVC).json()["id"] == shop["cat"].pk
    assert staff_client.delete(f"/users/{shop['cat'].pk}").status_code == 200

    assert staff_client.get(MVC).json()["id"] == shop["ben"].pk
    assert staff_client.get(MPP).json()["id"] == shop["pad"].pk  # units still count
    assert staff_client.get(MPP).json()["units_sold"] == 11
    # A window holding only the deleted customer's purchases has no one to rank.
    assert staff_client.get(MVC + "?since=2024-01-03").status_code == 404


def test_top_customers_and_products(staff_client, shop):
    customers = staff_client.get("/purchases/analytic/top_customers").json()
    assert [(c["email"], c["total_spent"]) for c in customers] == [
        ("ben@example.com", "25.00"),
        ("ann@example.com", "20.00"),
        ("cat@example.com", "5.00"),
    ]
    products = staff_client.get("/purchases/analytic/top_products?limit=2").json()
    assert [(p["id"], p["units_sold"]) for p in products] == [
        (shop["pen"].pk, 10),
        (shop["ink"].pk, 4),
    ]
    empty = staff_client.get("/purchases/analytic/top_products?since=2030-01-01")
    assert (empty.status_code, empty.json()) == (200, [])


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "10**3"])
def test_invalid_limit_is_400(staff_client, limit):
    for path in ("/purchases/analytic/top_customers", "/purchases/analytic/top_products"):
        response = staff_client.get(f"{path}?limit={limit}")
        assert response.status_code == 400
        assert list(response.json()) == ["limit"]


def test_in_period_is_chainable(shop):
    january_2nd = Purchase.objects.in_period(T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert january_2nd.filter(user=shop["ben"]).count() == 2
    assert january_2nd.in_period(until=T0 + timedelta(days=1, hours=1)).count() == 1
    assert Purchase.objects.in_period().count() == 4


def test_totals_past_64_bit_cents_do_not_overflow(staff_client, make_user, make_product, buy):
    # Each purchase is within the API's limits; together they pass 2**63 cents.
    whale = make_user()
    dearest = make_product(price="9999999999.99")
    for _ in range(10):
        buy(whale, dearest, 1_000_000)

    for path in (MVC, MVC.replace("most_valuable_customer", "top_customers")):
        response = staff_client.get(path)
        assert response.status_code == 200, path
    best = staff_client.get(MVC).json()
    assert best["id"] == whale.pk
    assert abs(Decimal(best["total_spent"]) - Decimal("99999999999900000.00")) <= 1


# --- Property: all-time answers (the totals) agree with Python after any writes --------

CUSTOMERS, PRODUCTS = 4, 3
EVER = {"since": datetime(1900, 1, 1, tzinfo=UTC), "until": datetime(9000, 1, 1, tzinfo=UTC)}

writes = st.lists(
    st.one_of(
        # (kind, customer, product, quantity)
        st.tuples(
            st.just("create"),
            st.integers(0, CUSTOMERS - 1),
            st.integers(0, PRODUCTS - 1),
            st.integers(1, 5),
        ),
        # (kind, which purchase: an index into those alive, modulo, and the new value)
        st.tuples(st.just("quantity"), st.integers(0, 50), st.integers(1, 5)),
        st.tuples(st.just("product"), st.integers(0, 50), st.integers(0, PRODUCTS - 1)),
        st.tuples(st.just("customer"), st.integers(0, 50), st.integers(0, CUSTOMERS - 1)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        # (kind, product, new price in cents: small, so that ties happen; 0 is a price too)
        st.tuples(st.just("reprice"), st.integers(0, PRODUCTS - 1), st.integers(0, 400)),
        st.tuples(st.just("delete customer"), st.integers(0, CUSTOMERS - 1)),
    ),
    max_size=30,
)


def run_writes(steps, users, products):
    """Applies `steps` through the services; returns the Python model of what remains.

    The model: {purchase id: [customer index or None, product index, quantity, cents]}.
    """
    model, prices = {}, [100] * PRODUCTS
    alive = [True] * CUSTOMERS

    def nth(index):
        return sorted(model)[index % len(model)] if model else None

    for step in steps:
        kind = step[0]
        if kind == "create":
            _, customer, product, quantity = step
            if not alive[customer]:
                with pytest.raises(ValidationError), transaction.atomic():
                    services.create_purchase(
                        user=users[customer], product=products[product], quantity=quantity
                    )
                continue
            made = services.create_purchase(
                user=users[customer], product=products[product], quantity=quantity
            )
            model[made.pk] = [customer, product, quantity, prices[product]]
        elif kind == "reprice":
            _, product, cents = step
            product_services.update_product(products[product], price=Decimal(cents) / 100)
            prices[product] = cents
        elif kind == "delete customer":
            customer = step[1]
            if alive[customer]:
                user_services.delete_user(users[customer])
                alive[customer] = False
                for line in model.values():
                    if line[0] == customer:
                        line[0] = None
        elif (pk := nth(step[1])) is not None:
            line = model[pk]
            if kind == "quantity":
                services.update_purchase(pk, quantity=step[2])
                line[2] = step[2]
            elif kind == "product":
                services.update_purchase(pk, product=products[step[2]])
                if step[2] != line[1]:  # the same product again changes nothing
                    line[1], line[3] = step[2], prices[step[2]]
            elif kind == "customer" and not alive[step[2]]:
                with pytest.raises(ValidationError), transaction.atomic():
                    services.update_purchase(pk, user=users[step[2]])
            elif kind == "customer":
                services.update_purchase(pk, user=users[step[2]])
                line[0] = step[2]
            elif kind == "delete":
                services.delete_purchase(pk)
                del model[pk]
    return model


def expected_all_time(model, users, products):
    spent, bought, units, sold = defaultdict(int), defaultdict(int), defaultdict(int), {}
    for customer, product, quantity, cents in model.values():
        if customer is not None:
            spent[users[customer].pk] += quantity * cents
            bought[users[customer].pk] += 1
        pk = products[product].pk
        units[pk] += quantity
        sold[pk] = sold.get(pk, 0) + 1
    return (
        [
            (pk, Decimal(spent[pk]) / 100, bought[pk])
            for pk in sorted(spent, key=lambda pk: (-spent[pk], pk))
        ],
        [(pk, units[pk], sold[pk]) for pk in sorted(units, key=lambda pk: (-units[pk], pk))],
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=writes)
def test_all_time_rankings_match_python_after_any_writes(steps, db):
    with transaction.atomic():
        sid = transaction.savepoint()
        try:
            users = [
                User.objects.create_user(email=f"w{i}@example.com", first_name="W", last_name="W")
                for i in range(CUSTOMERS)
            ]
            products = [
                Product.objects.create(sku=f"W-{i}", name="W", price=Decimal("1.00"))
                for i in range(PRODUCTS)
            ]
            model = run_writes(steps, users, products)
            customers, top = expected_all_time(model, users, products)

            got_customers = spenders(analytics.top_customers(limit=100))
            got_products = sellers(analytics.top_products(limit=100))
            assert got_customers == customers
            assert got_products == top
            # The same objects, figures and types as the aggregate over the purchases gives.
            assert got_customers == spenders(analytics.top_customers(**EVER, limit=100))
            assert got_products == sellers(analytics.top_products(**EVER, limit=100))
            mvc, mpp = analytics.most_valuable_customer(), analytics.most_popular_product()
            assert (mvc.pk if mvc else None) == (customers[0][0] if customers else None)
            assert (mpp.pk if mpp else None) == (top[0][0] if top else None)
            assert totals.drift() == []
        finally:
            transaction.savepoint_rollback(sid)


# --- Refunds: net, each counted on the day it is made -----------------------------------

JAN_4 = T0 + timedelta(days=3)
ALL_TIME_AND_A_WINDOW_HOLDING_EVERYTHING = ["", "?since=2024-01-01"]


def refund_on(day, purchase, staff, **given):
    """A refund through the service, then dated `day` (as `buy` dates a purchase)."""
    made = refunds.refund_purchase(purchase, by=staff, reason="returned", **given)
    Refund.objects.filter(pk=made.pk).update(created_at=day)
    totals.rebuild_days()
    return made


@pytest.fixture
def pad_refunded(shop, staff):
    """On 4 January ben gets 10.00 back on his pad (money only): ben 15.00, below ann."""
    pad = Purchase.objects.get(product=shop["pad"])
    return refund_on(JAN_4, pad, staff, amount=Decimal("10.00"))


@pytest.fixture
def pens_returned(shop, staff):
    """On 4 January ann returns 7 of her 10 pens (14.00): pen 3 units, below ink's 4."""
    pens = Purchase.objects.get(product=shop["pen"])
    return refund_on(JAN_4, pens, staff, quantity=7)


@pytest.mark.parametrize("query", ALL_TIME_AND_A_WINDOW_HOLDING_EVERYTHING)
def test_spend_is_net_of_refunds(staff_client, shop, pad_refunded, query):
    ranked = staff_client.get("/purchases/analytic/top_customers" + query).json()

    assert [(c["id"], c["total_spent"], c["purchase_count"]) for c in ranked] == [
        (shop["ann"].pk, "20.00", 1),
        (shop["ben"].pk, "15.00", 2),
        (shop["cat"].pk, "5.00", 1),
    ]


@pytest.mark.parametrize("query", ALL_TIME_AND_A_WINDOW_HOLDING_EVERYTHING)
def test_units_are_net_of_returns(staff_client, shop, pens_returned, query):
    best = staff_client.get(MPP + query).json()
    ranked = staff_client.get("/purchases/analytic/top_products" + query).json()

    assert (best["id"], best["units_sold"], best["purchase_count"]) == (shop["ink"].pk, 4, 2)
    assert [(p["id"], p["units_sold"]) for p in ranked] == [
        (shop["ink"].pk, 4),
        (shop["pen"].pk, 3),
        (shop["pad"].pk, 1),
    ]


def test_a_window_that_ended_before_a_refund_keeps_its_answer(
    staff_client, shop, pad_refunded, pens_returned
):
    before = "?until=2024-01-04"

    customer = staff_client.get(MVC + before).json()
    product = staff_client.get(MPP + before).json()

    assert (customer["id"], customer["total_spent"]) == (shop["ben"].pk, "25.00")
    assert (product["id"], product["units_sold"]) == (shop["pen"].pk, 10)


def test_a_window_holding_only_refunds_shows_them_as_negative(
    staff_client, shop, pad_refunded, pens_returned
):
    only_refunds = "?since=2024-01-04"

    customers = staff_client.get("/purchases/analytic/top_customers" + only_refunds).json()
    product = staff_client.get(MPP + only_refunds).json()

    # ben: -10.00 on his pad; ann: -14.00 for her pens; no purchase in the window.
    assert [(c["id"], c["total_spent"], c["purchase_count"]) for c in customers] == [
        (shop["ben"].pk, "-10.00", 0),
        (shop["ann"].pk, "-14.00", 0),
    ]
    assert (product["id"], product["units_sold"], product["purchase_count"]) == (
        shop["pad"].pk,  # 0 units returned: ahead of the pen's -7
        0,
        0,
    )


def test_a_refund_counts_for_its_purchases_customer_even_after_the_purchase_moved(
    staff_client, staff, shop
):
    pad = Purchase.objects.get(product=shop["pad"])
    services.update_purchase(pad, user=shop["cat"])  # cat 15.00 now
    refund_on(JAN_4, pad, staff, amount=Decimal("10.00"))

    ranked = staff_client.get("/purchases/analytic/top_customers?since=2024-01-04").json()

    assert [(c["id"], c["total_spent"]) for c in ranked] == [(shop["cat"].pk, "-10.00")]


@pytest.mark.parametrize("query", ALL_TIME_AND_A_WINDOW_HOLDING_EVERYTHING)
def test_ties_made_by_refunds_go_to_the_lowest_id(staff_client, staff, shop, query):
    pad = Purchase.objects.get(product=shop["pad"])
    refund_on(JAN_4, pad, staff, amount=Decimal("5.00"))  # ben 20.00, level with ann
    assert staff_client.get(MVC + query).json()["id"] == shop["ann"].pk

    pens = Purchase.objects.get(product=shop["pen"])
    refund_on(JAN_4, pens, staff, quantity=6)  # pen 4 units, level with ink
    assert staff_client.get(MPP + query).json()["id"] == shop["pen"].pk


def test_revenue_by_day_takes_each_refund_off_its_own_day(staff, shop, pad_refunded):
    rows = analytics.revenue_by_period(since=T0)

    assert [(row["bucket"].day, row["revenue"], row["purchase_count"]) for row in rows] == [
        (1, Decimal("20.00"), 1),
        (2, Decimal("25.00"), 2),
        (3, Decimal("5.00"), 1),
        (4, Decimal("-10.00"), 0),
    ]
    assert analytics.sales_extent(since=T0)["last"] == JAN_4


# --- Windowed rankings pruned by the sales totals --------------------------------------


@pytest.fixture
def busy_shop(make_user, make_product, buy, staff):
    """24 customers and 12 products, 120 purchases over 10 days (a few customers and
    products much busier than the rest), and refunds given on later days."""
    import random

    chance = random.Random(23)
    customers = [make_user(email=f"busy{i}@example.com") for i in range(24)]
    products = [make_product(price=f"{1 + i}.50", sku=f"B-{i:03}") for i in range(12)]
    bought = []
    for _ in range(120):
        customer = customers[min(int(chance.paretovariate(1.2)) - 1, 23)]
        product = products[min(int(chance.paretovariate(1.2)) - 1, 11)]
        at = T0 + timedelta(days=chance.randrange(10), hours=chance.randrange(24))
        bought.append(buy(customer, product, quantity=chance.randint(1, 4), at=at))
    for purchase in chance.sample(bought, 15):
        refund = refunds.refund_purchase(
            purchase, by=staff, quantity=1, amount=Decimal("1.00"), reason="returned"
        )
        later = purchase.created_at + timedelta(days=chance.randrange(4))
        Refund.objects.filter(pk=refund.pk).update(created_at=later)
    totals.rebuild_days()
    return customers, products


@pytest.mark.parametrize("key", ["user_id", "product_id"])
def test_a_pruned_window_ranking_is_the_whole_windows(busy_shop, monkeypatch, key):
    monkeypatch.setattr(analytics, "LEADERS", 1)  # a low first bar: the totals must prune
    pruned = 0
    for since_day, until_day in [(0, 10), (0, 3), (2, 5), (6, 14), (9, 10), (None, 4), (5, None)]:
        since = None if since_day is None else T0 + timedelta(days=since_day)
        until = None if until_day is None else T0 + timedelta(days=until_day)
        for limit in (1, 3, 5):
            window = {"since": since, "until": until, "limit": limit, "using": None}
            rows = analytics._pruned_ranking(analytics.RANKED[key], **window)
            whole = analytics._ranking_rows(key, **window)
            assert rows is None or rows == whole, (since_day, until_day, limit)
            pruned += rows is not None

    assert pruned >= 10  # most windows were answered from the owners who could rank


def test_a_refund_does_not_hide_a_customer_who_could_still_rank(make_user, product, buy, staff):
    # Ann's net total is low (most of what she paid came back later), but within the
    # window she spent the most: her bound is what she paid, not what she kept.
    ann, ben = make_user(email="ann@example.com"), make_user(email="ben@example.com")
    big = buy(ann, product, quantity=8, at=T0)  # 100.00
    buy(ben, product, quantity=2, at=T0)  # 25.00
    refund = refunds.refund_purchase(big, by=staff, amount=Decimal("90.00"), reason="goodwill")
    Refund.objects.filter(pk=refund.pk).update(created_at=T0 + timedelta(days=5))

    (first,) = analytics.top_customers(since=T0, until=T0 + timedelta(days=1), limit=1)

    assert (first.pk, first.total_spent) == (ann.pk, Decimal("100.00"))


def test_a_window_the_totals_cannot_prune_is_aggregated_whole(busy_shop, monkeypatch):
    monkeypatch.setattr(analytics, "CONTENDERS", 0)
    window = {"since": T0, "until": T0 + timedelta(days=4), "limit": 3, "using": None}

    assert analytics._pruned_ranking(analytics.RANKED["user_id"], **window) is None
    assert analytics.customer_spend_in_window(**window) == [
        {"user_id": owner, "total_spent": Decimal(int(cents)).scaleb(-2), "purchase_count": bought}
        for owner, cents, bought in analytics._ranking_rows("user_id", **window)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_refund_committed_between_the_pruned_rankings_statements_is_not_seen(
    postgres_only, make_user, product, staff, monkeypatch
):
    # Ann leads all time, so her window figure (100.00) is the bar, which prunes Ben (he
    # paid 87.50 in all). A refund to Ann committed once the bar is set would, read by the
    # contenders' ranking, make her 40.00 the window's top while Ben spent 87.50 in it:
    # the ranking must read the database as it was when it began.
    monkeypatch.setattr(analytics, "LEADERS", 1)
    ann, ben = make_user(email="ann@example.com"), make_user(email="ben@example.com")
    big = services.create_purchase(user=ann, product=product, quantity=8)
    services.create_purchase(user=ben, product=product, quantity=7)
    failures = []

    def refund_from_another_connection():
        try:
            refunds.refund_purchase(big, by=staff, amount=Decimal("60.00"), reason="goodwill")
        except Exception as exc:  # reported to the test's thread below
            failures.append(exc)
        finally:
            connections.close_all()

    def refund_once_the_bar_is_set(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "FULL JOIN" in sql and not refunded.is_set():
            refunded.set()
            writer = threading.Thread(target=refund_from_another_connection)
            writer.start()
            writer.join(timeout=30)
        return result

    refunded = threading.Event()
    window = {"since": timezone.now() - timedelta(days=1), "limit": 1}
    with connection.execute_wrapper(refund_once_the_bar_is_set):
        during = analytics.customer_spend_in_window(**window)
    after = analytics.customer_spend_in_window(**window)

    assert failures == [] and Refund.objects.filter(purchase=big).count() == 1
    assert during == [{"user_id": ann.pk, "total_spent": Decimal("100.00"), "purchase_count": 1}]
    assert after == [{"user_id": ben.pk, "total_spent": Decimal("87.50"), "purchase_count": 1}]


# --- Short windows bounded by the customers' months ------------------------------------


def local(*args):
    return timezone.make_aware(datetime(*args))


@pytest.mark.parametrize(
    ("since", "until", "months"),
    [
        ((2024, 1, 15), (2024, 2, 1), [(2024, 1, 1)]),  # the end is the first instant left out
        ((2024, 1, 31), (2024, 4, 1), [(2024, 1, 1), (2024, 2, 1), (2024, 3, 1)]),
        ((2024, 1, 31), (2024, 4, 1, 0, 0, 1), None),  # a fourth month: not a short window
        ((2023, 12, 31, 23, 59), (2024, 1, 1, 0, 1), [(2023, 12, 1), (2024, 1, 1)]),
    ],
)
def test_the_months_a_window_touches(since, until, months):
    expected = None if months is None else [date(*month) for month in months]

    assert analytics._window_months(local(*since), local(*until), None) == expected


def test_a_window_without_a_start_is_not_bounded_by_months():
    assert analytics._window_months(None, local(2024, 2, 1), None) is None


def test_an_open_ended_window_runs_to_the_last_month_anybody_bought_in(customer, product, buy):
    since = local(2024, 1, 15)
    assert analytics._window_months(since, None, None) == [date(2024, 1, 1)]

    buy(customer, product, at=local(2024, 3, 3))

    assert analytics._window_months(since, None, None) == [
        date(2024, 1, 1),
        date(2024, 2, 1),
        date(2024, 3, 1),
    ]


def test_a_windows_months_are_the_shops(settings):
    settings.TIME_ZONE = "America/New_York"
    # 02:00 UTC on 1 March is still February in New York.
    since = datetime(2024, 3, 1, 2, tzinfo=UTC)

    assert analytics._window_months(since, since + timedelta(hours=1), None) == [date(2024, 2, 1)]


def test_a_short_window_ranked_among_its_months_spenders_is_the_whole_windows(
    busy_shop, monkeypatch
):
    monkeypatch.setattr(analytics, "LEADERS", 1)  # a low first bar: the months must prune
    pruned = 0
    for since_day, until_day in [(0, 10), (0, 3), (2, 5), (6, 14), (9, 10), (5, None)]:
        since = T0 + timedelta(days=since_day)
        until = None if until_day is None else T0 + timedelta(days=until_day)
        months = analytics._window_months(since, until, None)
        assert months == [date(2024, 1, 1)]
        for limit in (1, 3, 5):
            window = {"since": since, "until": until, "limit": limit, "using": None}
            rows = analytics._ranked_within_months(months, **window)
            assert rows is None or rows == analytics._ranking_rows("user_id", **window)
            pruned += rows is not None

    assert pruned >= 10


def test_the_months_prune_a_window_that_the_all_time_totals_cannot(
    make_user, make_product, buy, monkeypatch
):
    # Five customers spent a lot last year; this January, Eve spent the most (30.00) and the
    # others 1.00 each. Everybody's all-time spend reaches January's bar: only the month
    # tells that nobody but Eve could reach it.
    monkeypatch.setattr(analytics, "CONTENDERS", 3)
    ring, pin = make_product(price="100.00"), make_product(price="1.00")
    customers = [make_user(email=f"m{i}@example.com") for i in range(5)]
    for customer in customers:
        buy(customer, ring, quantity=5, at=local(2023, 6, 1))
        buy(customer, pin, at=local(2024, 1, 5))
    eve = customers[3]
    buy(eve, pin, quantity=29, at=local(2024, 1, 6))
    window = {"since": local(2024, 1, 1), "until": local(2024, 1, 11), "limit": 1, "using": None}

    with monkeypatch.context() as no_months:
        no_months.setattr(analytics, "SHORT_WINDOW_MONTHS", 0)
        assert analytics._pruned_ranking(analytics.RANKED["user_id"], **window) is None
    rows = analytics._pruned_ranking(analytics.RANKED["user_id"], **window)

    assert rows == analytics._ranking_rows("user_id", **window)
    assert [(user.pk, user.total_spent) for user in analytics.top_customers(**window)] == [
        (eve.pk, Decimal("30.00"))
    ]
