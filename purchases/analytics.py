"""Sales reports: ORM aggregates computed by the database, never loops over purchase rows.

Spend counts what was paid (`quantity * unit_price`, the price snapshot), so a
later price change does not rewrite history. Rankings break ties by the lowest
id. Windows are half-open, `[since, until)`; either end may be left open.
"""

from django.db.models import Count, DateField, DecimalField, F, Sum
from django.db.models.functions import TruncDate, TruncDay, TruncMonth, TruncWeek, TruncYear

from products.models import Product
from purchases.models import Purchase
from users.models import User


class Spend(Sum):
    """Sum of quantity * unit_price.

    Exact on PostgreSQL (NUMERIC). SQLite keeps decimals as floating point, where
    equal totals can differ in the last bit and break ties the wrong way; there
    each line is taken in integer cents and summed with TOTAL(), which is exact
    below 2**53 cents (about 90 trillion) and, unlike SUM() of integers, does
    not fail with "integer overflow" above it.
    """

    def __init__(self, **extra):
        super().__init__(
            F("quantity") * F("unit_price"),
            output_field=DecimalField(max_digits=30, decimal_places=2),
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "TOTAL(CAST(ROUND(%(expressions)s * 100) AS INTEGER)) / 100"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def top_customers(*, since=None, until=None, limit=1):
    """Rows `{user_id, total_spent, purchase_count}`, biggest spender first.

    Purchases of deleted customers (`user` null) are left out: there is no one to rank.
    """
    return (
        Purchase.objects.in_period(since, until)
        .filter(user__isnull=False)
        .order_by()
        .values("user_id")
        .annotate(total_spent=Spend(), purchase_count=Count("*"))
        .order_by("-total_spent", "user_id")[:limit]
    )


def top_products(*, since=None, until=None, limit=1):
    """Rows `{product_id, units_sold, purchase_count}`, most units sold first."""
    return (
        Purchase.objects.in_period(since, until)
        .order_by()
        .values("product_id")
        .annotate(units_sold=Sum("quantity"), purchase_count=Count("*"))
        .order_by("-units_sold", "product_id")[:limit]
    )


def _attach(model, rows, key, names):
    # One query for the ≤ `limit` ranked objects, in ranking order; the numbers ride along.
    rows = list(rows)
    objects = model.objects.in_bulk([row[key] for row in rows])
    ranked = []
    for row in rows:
        obj = objects.get(row[key])
        if obj is None:  # deleted between the two queries
            continue
        for name in names:
            setattr(obj, name, row[name])
        ranked.append(obj)
    return ranked


def ranked_customers(*, since=None, until=None, limit=1):
    """The top customers as `User` objects carrying `total_spent` and `purchase_count`."""
    rows = top_customers(since=since, until=until, limit=limit)
    return _attach(User, rows, "user_id", ["total_spent", "purchase_count"])


def ranked_products(*, since=None, until=None, limit=1):
    """The top products as `Product` objects carrying `units_sold` and `purchase_count`."""
    rows = top_products(since=since, until=until, limit=limit)
    return _attach(Product, rows, "product_id", ["units_sold", "purchase_count"])


def most_valuable_customer(*, since=None, until=None):
    """The customer who spent the most in the window, or None when nobody bought anything."""
    return next(iter(ranked_customers(since=since, until=until, limit=1)), None)


def most_popular_product(*, since=None, until=None):
    """The product with the most units sold in the window, or None when none was sold."""
    return next(iter(ranked_products(since=since, until=until, limit=1)), None)


def revenue_by_day(*, since=None, until=None):
    """Rows `{day, revenue, purchase_count}`, oldest day first; only days with purchases.

    Days are calendar days in the shop's time zone (`TIME_ZONE`); revenue is what was
    paid (`Spend`), so a later price change does not rewrite history.
    """
    return (
        Purchase.objects.in_period(since, until)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day")
        .annotate(revenue=Spend(), purchase_count=Count("*"))
        .order_by("day")
    )


TRUNCATIONS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth, "year": TruncYear}


def revenue_by_period(*, since=None, until=None, unit="day"):
    """Rows `{bucket, revenue, purchase_count}`, oldest first; only buckets with purchases.

    `unit` is "day", "week" (starting on Monday), "month" or "year"; `bucket` is the
    date the bucket starts on, in the shop's time zone (`TIME_ZONE`). The database
    does the grouping, so the rows number the buckets with sales, not the purchases.
    """
    truncate = TRUNCATIONS[unit]
    return (
        Purchase.objects.in_period(since, until)
        .annotate(bucket=truncate("created_at", output_field=DateField()))
        .order_by()
        .values("bucket")
        .annotate(revenue=Spend(), purchase_count=Count("*"))
        .order_by("bucket")
    )
