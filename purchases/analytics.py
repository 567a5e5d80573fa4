"""Sales reports: ORM aggregates computed by the database, never loops over purchase rows.

Spend counts what was paid (`purchases.money`, from the price snapshot), so a
later price change does not rewrite history. Rankings break ties by the lowest
id. Windows are half-open, `[since, until)`; either end may be left open.

One function per ranking (`top_customers`, `top_products`, and their first,
`most_valuable_customer`, `most_popular_product`), answering objects carrying their
figures. All time (no `since`, no `until`) they read the sales totals that every
purchase write maintains (`purchases.totals`): rows off an index, whatever the size of
the history, and the same answer the aggregate over the purchases gives. For a window
they aggregate the window's purchases on the covering indexes of `Purchase`.

The rankings take `using`, the database alias to read (None: the router's choice).
"""

from django.db.models import Count, DateField, F, Max, Min, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek, TruncYear

from products.models import Product
from purchases.models import Purchase
from purchases.money import MoneyFromCents, PaidSum
from users.models import User


def _all_time(since, until):
    return since is None and until is None


def customers_by_total_spent(using=None):
    """All time: customers with purchases, biggest spender first, carrying `total_spent` and
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
    """All time: products with purchases, best seller first, carrying `units_sold` and
    `purchase_count` from their totals: one query, the rank index joined to the products."""
    return (
        Product.objects.using(using)
        .filter(sales__purchase_count__gt=0)
        .annotate(units_sold=F("sales__units_sold"), purchase_count=F("sales__purchase_count"))
        .order_by("-sales__units_sold", "sales__product_id")
    )


def customer_spend_in_window(*, since=None, until=None, using=None):
    """A window: rows `{user_id, total_spent, purchase_count}`, biggest spender first, the
    window's purchases aggregated on their covering index.

    Purchases of deleted customers (`user` null) are left out: there is no one to rank.
    """
    return (
        Purchase.objects.using(using)
        .in_period(since, until)
        .filter(user__isnull=False)
        .order_by()
        .values("user_id")
        .annotate(total_spent=PaidSum(), purchase_count=Count("*"))
        .order_by("-total_spent", "user_id")
    )


def product_units_in_window(*, since=None, until=None, using=None):
    """A window: rows `{product_id, units_sold, purchase_count}`, most units sold first."""
    return (
        Purchase.objects.using(using)
        .in_period(since, until)
        .order_by()
        .values("product_id")
        .annotate(units_sold=Sum("quantity"), purchase_count=Count("*"))
        .order_by("-units_sold", "product_id")
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


def top_customers(*, since=None, until=None, limit=1, using=None):
    """The `limit` biggest spenders, as `User` objects carrying `total_spent` and
    `purchase_count`."""
    if _all_time(since, until):
        return list(customers_by_total_spent(using)[:limit])
    rows = customer_spend_in_window(since=since, until=until, using=using)[:limit]
    return _attach(User, rows, "user_id", ["total_spent", "purchase_count"], using)


def top_products(*, since=None, until=None, limit=1, using=None):
    """The `limit` best sellers, as `Product` objects carrying `units_sold` and
    `purchase_count`."""
    if _all_time(since, until):
        return list(products_by_units_sold(using)[:limit])
    rows = product_units_in_window(since=since, until=until, using=using)[:limit]
    return _attach(Product, rows, "product_id", ["units_sold", "purchase_count"], using)


def most_valuable_customer(*, since=None, until=None, using=None):
    """The customer who spent the most in the window, or None when nobody bought anything."""
    return next(iter(top_customers(since=since, until=until, limit=1, using=using)), None)


def most_popular_product(*, since=None, until=None, using=None):
    """The product with the most units sold in the window, or None when none was sold."""
    return next(iter(top_products(since=since, until=until, limit=1, using=using)), None)


def sales_extent(*, since=None, until=None, using=None):
    """`{"first", "last"}`: the first and last purchase instants of the window (None when
    it has no purchase), read off the two ends of the index on `created_at`."""
    return (
        Purchase.objects.using(using)
        .in_period(since, until)
        .aggregate(first=Min("created_at"), last=Max("created_at"))
    )


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
        .annotate(revenue=PaidSum(), purchase_count=Count("*"))
        .order_by("bucket")
    )
