"""Sales reports: ORM aggregates computed by the database, never loops over purchase rows.

Spend counts what was paid (`quantity * unit_price`, the price snapshot), so a
later price change does not rewrite history. Rankings break ties by the lowest
id. Windows are half-open, `[since, until)`; either end may be left open.

All-time rankings (no `since`, no `until`) read the sales totals that every purchase
write maintains (`purchases.totals`): one row off an index, whatever the size of the
history, and the same answer the aggregate over the purchases gives. Windowed ones
aggregate the window's purchases on the covering indexes of `Purchase`.

The rankings take `using`, the database alias to read (None: the router's choice).
"""

from django.db.models import Count, DateField, DecimalField, F, Func, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek, TruncYear

from products.models import Product
from purchases.models import CustomerSales, ProductSales, Purchase
from users.models import User

# SQLite: what was paid, summed exactly in integer cents (see `Spend`). The sales totals'
# rebuild sums the purchases with it too, so both agree to the cent.
SQLITE_CENTS_TOTAL = "TOTAL(CAST(ROUND({paid} * 100) AS INTEGER))"


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
        template = SQLITE_CENTS_TOTAL.format(paid="%(expressions)s") + " / 100"
        return self.as_sql(compiler, connection, template=template, **extra_context)


class MoneyFromCents(Func):
    """Integer cents (the sales totals' money) as the amount `Spend` gives for the same sum.

    PostgreSQL: an exact NUMERIC with 2 places. SQLite: floating point divided by 100,
    exactly as `Spend` divides its integer cents there, so both give the same number.
    """

    template = "(%(expressions)s * 0.01)"
    output_field = DecimalField(max_digits=34, decimal_places=2)

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "(CAST(%(expressions)s AS REAL) / 100)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _all_time(since, until):
    return since is None and until is None


def customer_totals(using=None):
    """`CustomerSales` rows with purchases, biggest spender first, carrying `total_spent`.

    Ordered as `purchases_customer_rank_idx` is (spend descending, ties to the lowest
    id): the first rows are read off the index.
    """
    return (
        CustomerSales.objects.using(using)
        .with_purchases()
        .annotate(total_spent=MoneyFromCents("spent_cents"))
        .order_by("-spent_cents", "user_id")
    )


def product_totals(using=None):
    """`ProductSales` rows with purchases, best seller first (`purchases_product_rank_idx`)."""
    return ProductSales.objects.using(using).with_purchases().order_by("-units_sold", "product_id")


def top_customers(*, since=None, until=None, limit=1, using=None):
    """Rows `{user_id, total_spent, purchase_count}`, biggest spender first.

    Purchases of deleted customers (`user` null) are left out: there is no one to rank.
    """
    if _all_time(since, until):
        return customer_totals(using).values("user_id", "total_spent", "purchase_count")[:limit]
    return (
        Purchase.objects.using(using)
        .in_period(since, until)
        .filter(user__isnull=False)
        .order_by()
        .values("user_id")
        .annotate(total_spent=Spend(), purchase_count=Count("*"))
        .order_by("-total_spent", "user_id")[:limit]
    )


def top_products(*, since=None, until=None, limit=1, using=None):
    """Rows `{product_id, units_sold, purchase_count}`, most units sold first."""
    if _all_time(since, until):
        return product_totals(using).values("product_id", "units_sold", "purchase_count")[:limit]
    return (
        Purchase.objects.using(using)
        .in_period(since, until)
        .order_by()
        .values("product_id")
        .annotate(units_sold=Sum("quantity"), purchase_count=Count("*"))
        .order_by("-units_sold", "product_id")[:limit]
    )


def _carrying(obj, **figures):
    for name, value in figures.items():
        setattr(obj, name, value)
    return obj


def _attach(model, rows, key, names, using):
    # One query for the ≤ `limit` ranked objects, in ranking order; the numbers ride along.
    rows = list(rows)
    objects = model.objects.using(using).in_bulk([row[key] for row in rows])
    ranked = []
    for row in rows:
        obj = objects.get(row[key])
        if obj is None:  # deleted between the two queries
            continue
        ranked.append(_carrying(obj, **{name: row[name] for name in names}))
    return ranked


def customers_by_total_spent(using=None):
    """Customers with purchases, biggest spender first, carrying `total_spent` and
    `purchase_count` from their totals: one query, the rank index joined to the users."""
    return (
        User.objects.using(using)
        .filter(sales__purchase_count__gt=0)
        .annotate(
            total_spent=MoneyFromCents("sales__spent_cents"),
            purchase_count=F("sales__purchase_count"),
        )
        .order_by("-sales__spent_cents", "sales__user_id")
    )


def products_by_units_sold(using=None):
    """Products with purchases, best seller first, carrying `units_sold` and
    `purchase_count` from their totals: one query, the rank index joined to the products."""
    return (
        Product.objects.using(using)
        .filter(sales__purchase_count__gt=0)
        .annotate(units_sold=F("sales__units_sold"), purchase_count=F("sales__purchase_count"))
        .order_by("-sales__units_sold", "sales__product_id")
    )


def ranked_customers(*, since=None, until=None, limit=1, using=None):
    """The top customers as `User` objects carrying `total_spent` and `purchase_count`."""
    if _all_time(since, until):
        return list(customers_by_total_spent(using)[:limit])
    rows = top_customers(since=since, until=until, limit=limit, using=using)
    return _attach(User, rows, "user_id", ["total_spent", "purchase_count"], using)


def ranked_products(*, since=None, until=None, limit=1, using=None):
    """The top products as `Product` objects carrying `units_sold` and `purchase_count`."""
    if _all_time(since, until):
        return list(products_by_units_sold(using)[:limit])
    rows = top_products(since=since, until=until, limit=limit, using=using)
    return _attach(Product, rows, "product_id", ["units_sold", "purchase_count"], using)


def most_valuable_customer(*, since=None, until=None, using=None):
    """The customer who spent the most in the window, or None when nobody bought anything."""
    return next(iter(ranked_customers(since=since, until=until, limit=1, using=using)), None)


def most_popular_product(*, since=None, until=None, using=None):
    """The product with the most units sold in the window, or None when none was sold."""
    return next(iter(ranked_products(since=since, until=until, limit=1, using=using)), None)


TRUNCATIONS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth, "year": TruncYear}


def revenue_by_period(*, since=None, until=None, unit="day", using=None):
    """Rows `{bucket, revenue, purchase_count}`, oldest first; only buckets with purchases.

    `unit` is "day", "week" (starting on Monday), "month" or "year"; `bucket` is the
    date the bucket starts on, in the shop's time zone (`TIME_ZONE`). The database
    does the grouping, so the rows number the buckets with sales, not the purchases.
    """
    truncate = TRUNCATIONS[unit]
    return (
        Purchase.objects.using(using)
        .in_period(since, until)
        .annotate(bucket=truncate("created_at", output_field=DateField()))
        .order_by()
        .values("bucket")
        .annotate(revenue=Spend(), purchase_count=Count("*"))
        .order_by("bucket")
    )
