"""`analytics.revenue_by_period` by day: an ORM aggregate, checked against a Python computation."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from products.models import Product
from purchases import analytics, totals
from purchases.models import Purchase
from users.models import User

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, tzinfo=UTC)

rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # customer (2: deleted)
        st.integers(1, 4),  # quantity
        st.integers(1, 99_999),  # unit price in cents
        st.integers(0, 6 * 24 * 60 - 1),  # minute offset: six days
    ),
    max_size=25,
)
windows = st.tuples(st.none() | st.integers(0, 6 * 24), st.none() | st.integers(0, 6 * 24))


def expected(data, since, until):
    revenue, count = defaultdict(Decimal), defaultdict(int)
    for _, quantity, cents, minute in data:
        at = T0 + timedelta(minutes=minute)
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        revenue[at.date()] += quantity * Decimal(cents) / 100
        count[at.date()] += 1
    return [(day, revenue[day], count[day]) for day in sorted(revenue)]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=rows, window=windows)
def test_daily_revenue_matches_python(data, window):
    with transaction.atomic():
        users = [
            User.objects.create_user(f"r{i}@example.com", first_name=f"R{i}") for i in range(2)
        ] + [None]
        product = Product.objects.create(sku="R-1", name="Thing", price=Decimal("1.00"))
        Purchase.objects.bulk_create(
            Purchase(
                user=users[customer],
                product=product,
                quantity=quantity,
                unit_price=Decimal(cents) / 100,
                customer_email="someone@example.com",
                product_sku="R-1",
                product_name="Thing",
                created_at=T0 + timedelta(minutes=minute),
            )
            for customer, quantity, cents, minute in data
        )
        totals.rebuild_days()  # the rows were loaded around the service, as a bulk load is
        since = None if window[0] is None else T0 + timedelta(hours=window[0])
        until = None if window[1] is None else T0 + timedelta(hours=window[1])

        got = [
            (row["bucket"], row["revenue"], row["purchase_count"])
            for row in analytics.revenue_by_period(since=since, until=until)
        ]

        assert got == expected(data, since, until)
        transaction.set_rollback(True)


def test_daily_revenue_counts_the_price_paid_not_todays(make_user, product, buy):
    customer = make_user()
    buy(customer, product, quantity=2, at=T0)
    product.price = Decimal("99.00")
    product.save()
    buy(customer, product, quantity=1, at=T0 + timedelta(days=1))

    rows = list(analytics.revenue_by_period())

    assert [(row["bucket"], row["revenue"]) for row in rows] == [
        (T0.date(), Decimal("25.00")),
        ((T0 + timedelta(days=1)).date(), Decimal("99.00")),
    ]


def test_daily_revenue_uses_the_shop_time_zone(settings, make_user, product, buy):
    settings.TIME_ZONE = "America/New_York"
    # 02:00 UTC on 2 March is still 1 March in New York.
    buy(make_user(), product, at=datetime(2024, 3, 2, 2, 0, tzinfo=UTC))

    (row,) = analytics.revenue_by_period()

    assert row["bucket"].isoformat() == "2024-03-01"


def test_daily_revenue_of_whole_days_is_one_query_whatever_the_days(
    make_user, product, buy, django_assert_num_queries
):
    for day in range(5):
        buy(make_user(), product, at=T0 + timedelta(days=day))

    with django_assert_num_queries(1):  # the days' revenue
        assert len(list(analytics.revenue_by_period(since=T0))) == 5
    with django_assert_num_queries(2):  # not midnights: the purchases' aggregate, the refunds'
        assert len(list(analytics.revenue_by_period(since=T0 + timedelta(hours=1)))) == 4
