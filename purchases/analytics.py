"""Sales reports: aggregates computed by the database, never loops over purchase rows.

Spend counts what was paid (`purchases.money`, from the price snapshot), so a
later price change does not rewrite history, net of refunds; popularity counts units,
net of those returned. Rankings break ties by the lowest id. Windows are half-open,
`[since, until)`; either end may be left open.

A refund counts on the day it is made, not on the day of the purchase it refunds (as
shops' sales reports do): a window holds the purchases made in it, less the refunds
made in it, each refund for its purchase's customer and product. So a window that
ended before a refund never changes its answer, and a window holding only a refund
shows it as negative spend (or units), with no purchase.

One function per ranking (`top_customers`, `top_products`, and their first,
`most_valuable_customer`, `most_popular_product`), answering objects carrying their
figures. All time (no `since`, no `until`) they read the sales totals that every
purchase and refund write maintains (`purchases.totals`): rows off an index, whatever
the size of the history, and the same answer the aggregate over the purchases gives.
For a window, the totals first bound who can rank (`_pruned_ranking`): the window's
purchases and refunds of those owners only are summed, off the indexes that lead with
the customer or the product; when the bound prunes too little, one statement
aggregates all the window's purchases and refunds, on the covering indexes on their
`created_at`. A customer ranking over a window within a few months is bounded by what
each customer paid in those months (`CustomerMonth`) instead of all time: a month's
customers are many, but few of them paid much in it. Either way the answer is the
aggregate's over the window, ties included.
The revenue over time of whole days reads the days' revenue the writes keep
(`DailyRevenue`).

The rankings take `using`, the database alias to read (None: the router's choice).
"""

import operator
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from functools import reduce

from django.db import connections, transaction
from django.db.models import Count, DateField, F, Max, Min, Q, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek, TruncYear
from django.utils import timezone

from products.models import Product
from purchases import money
from purchases.models import (
    CustomerMonth,
    CustomerSales,
    DailyRevenue,
    ProductSales,
    Purchase,
    Refund,
)
from purchases.money import MoneyFromCents, MoneySum, PaidSum
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


def _window_lines(key, since, until, using, owners=None):
    """The window's purchases and its refunds, two querysets of one line each,
    `(owner, money, units)`: what a purchase was paid and its units; what a refund gave
    back and the units returned, for its purchase's `owner` (`key`: "user_id" or
    "product_id"). Lines without an owner (a deleted customer's) are left out; with
    `owners` (a `Q` over the owner's column, `key`), only theirs are kept."""
    purchases = (
        Purchase.objects.using(using)
        .in_period(since, until)
        .filter(**{f"{key}__isnull": False})
        .order_by()
        .values(owner=F(key), money=money.paid_expression(), units=F("quantity"))
    )
    refunds = (
        Refund.objects.using(using)
        .in_period(since, until)
        .filter(**{f"purchase__{key}__isnull": False})
        .order_by()
        .values(owner=F(f"purchase__{key}"), money=F("amount"), units=F("quantity"))
    )
    if owners is not None:
        purchases = purchases.filter(owners)
        refunds = refunds.filter(_through_purchase(owners))
    return purchases, refunds


def _through_purchase(condition):
    """`condition` (a `Q` over a purchase's columns) read from a refund, through its purchase."""
    children = [
        _through_purchase(child) if isinstance(child, Q) else (f"purchase__{child[0]}", child[1])
        for child in condition.children
    ]
    return Q(*children, _connector=condition.connector, _negated=condition.negated)


def window_ranking_sql(key, *, since=None, until=None, limit=1, using=None, owners=None):
    """`(sql, params, alias)`: the window's lines (`_window_lines`, of `owners` only if
    given) summed per owner into the figure ranked, `(owner, figure, bought)`: cents for
    customers (`key` "user_id"), units for products; the most first, ties to the lowest
    id, `limit` of them. Only the ranked figure is summed: a product ranking that also
    summed the money took 24 ms over a month of a million-purchase shop, against 14.

    The purchases are summed per owner, the refunds too, and the two joined (`FULL
    JOIN`: an owner may have only refunds in the window): grouped on the purchases'
    own column, the planner knows how many owners to expect and sizes the aggregate for
    them, which summing the union of both tables' lines hid from it.
    """
    purchases, refunds = _window_lines(key, since, until, using, owners)
    connection = connections[purchases.db]
    bought_sql, bought_params = purchases.query.get_compiler(connection=connection).as_sql()
    given_sql, given_params = refunds.query.get_compiler(connection=connection).as_sql()
    summed = money.cents_sum_sql("money", connection) if key == "user_id" else "SUM(units)"
    return (
        "SELECT COALESCE(b.owner, r.owner) AS owner,"
        " COALESCE(b.figure, 0) - COALESCE(r.figure, 0) AS figure,"
        " COALESCE(b.bought, 0) AS bought"
        f" FROM (SELECT owner, {summed} AS figure, COUNT(*) AS bought"
        f" FROM ({bought_sql}) AS lines GROUP BY owner) AS b"
        f" FULL JOIN (SELECT owner, {summed} AS figure"
        f" FROM ({given_sql}) AS lines GROUP BY owner) AS r ON r.owner = b.owner"
        " ORDER BY figure DESC, owner LIMIT %s",
        (*bought_params, *given_params, limit),
        purchases.db,
    )


def _ranking_rows(key, *, since, until, limit, using, owners=None):
    sql, params, alias = window_ranking_sql(
        key, since=since, until=until, limit=limit, using=using, owners=owners
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass(frozen=True)
class _Ranked:
    """What a window ranking ranks: its owners' column and the all-time sales totals
    that bound it."""

    key: str  # the purchases' column naming the owner
    sales: type  # `CustomerSales` or `ProductSales`
    total: str  # the totals' all-time figure, net of refunds
    bound: str  # the same before refunds: no window's figure exceeds it


_CUSTOMERS = _Ranked("user_id", CustomerSales, "spent_cents", "paid_cents")
_PRODUCTS = _Ranked("product_id", ProductSales, "units_sold", "units_purchased")
# The ranked figure's place in a row of `_ranking_rows`, `(owner, figure, bought)`.
FIGURE = 1
RANKED = {ranked.key: ranked for ranked in (_CUSTOMERS, _PRODUCTS)}

# A first bar: the window's ranking among this many all-time leaders, at least.
LEADERS = 100
# Owners who could still reach the bar and whose window is then summed one by one, at most;
# past this the bar prunes too little, and the whole window is aggregated instead.
CONTENDERS = 50_000


@contextmanager
def _one_snapshot(using):
    """The statements run inside see the database at one instant.

    The pruned ranking is several statements (the leaders, their ranking, which gives the
    bar, the contenders' ranking): a refund or a deletion committed between them could
    lower a leader's window figure below the bar once the owners under it are pruned, and
    rank the wrong owner. A transaction of its own does it: on PostgreSQL at `REPEATABLE
    READ` (read only, which a standby allows too), on SQLite any transaction reads one
    snapshot. Inside a caller's transaction the level can no longer be set: the
    statements run in it as they are. Several statements rather than one: the bar decides
    whether the contenders are ranked at all, or the whole window instead.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # Planned as costly (the estimates do not know how few owners pass the
                # bound), the statements were compiled to machine code first: 60 ms of a
                # month's 110 ms at 10M purchases, to save nothing.
                cursor.execute("SET LOCAL jit = off")
        yield


def _pruned_ranking(ranked, *, since, until, limit, using):
    """The window's top `limit`, computed for the owners who could reach it only; None when
    too many could.

    Nobody's figure in a window exceeds what they bought all time, before refunds (the
    totals' `bound`). So once some `limit` owners are known to reach a bar in the window
    (the window's top among the all-time leaders), the owners whose bound is below the
    bar cannot rank: the window's lines of those who can (off the indexes that lead with
    the owner) give the same ranking as the whole window's, ties included. When the bar
    does not prune (short windows of many alike owners, fewer owners than asked), `None`:
    the caller aggregates the window. All its statements read one snapshot
    (`_one_snapshot`).
    """
    using = Purchase.objects.using(using).db  # one database for the query and its subqueries
    window = {"since": since, "until": until, "limit": limit, "using": using}
    by_total = ranked.sales.objects.using(using).with_purchases()
    with _one_snapshot(using):
        months = _window_months(since, until, using) if ranked is _CUSTOMERS else None
        if months:
            return _ranked_within_months(months, **window)
        leaders = list(
            by_total.order_by(f"-{ranked.total}", "pk").values_list("pk", flat=True)[
                : max(LEADERS, limit)
            ]
        )
        if not leaders:  # nobody has bought anything
            return None
        rows = _ranking_rows(ranked.key, **window, owners=Q(**{f"{ranked.key}__in": leaders}))
        if len(rows) < limit or rows[-1][FIGURE] <= 0:
            return None
        bar = rows[-1][FIGURE]
        # `bound >= bar`, split so that each half reads an index: those whose figure net of
        # refunds reaches the bar (the rank index), and those refunds took from who reach
        # it only before refunds (a small partial index). Each half is counted on its own,
        # so that counting stops at the cap, as an index scan does.
        net = Q(**{f"{ranked.total}__gte": bar})
        refunded = Q(**{f"{ranked.bound}__gt": F(ranked.total), f"{ranked.bound}__gte": bar}) & ~net
        by_bound = ranked.sales.objects.with_purchases()
        counted = 0
        for half in (net, refunded):
            counted += by_bound.using(using).filter(half)[: CONTENDERS + 1].count()
            if counted > CONTENDERS:
                return None
        # A subquery of the ranking's own statement (on its database, whichever alias says it).
        reaching = by_bound.filter(net | refunded).values("pk")
        return _ranking_rows(ranked.key, **window, owners=Q(**{f"{ranked.key}__in": reaching}))


# A customer ranking over a window within this many months is bounded by those months.
SHORT_WINDOW_MONTHS = 3


def _window_months(since, until, using):
    """The first days of the months (in the shop's time zone) the window touches, when it
    has a start and touches at most `SHORT_WINDOW_MONTHS`; otherwise None. Open-ended, it
    runs to the last month anybody bought in."""
    if since is None:
        return None
    month = timezone.localdate(since).replace(day=1)
    if until is not None:
        last = timezone.localdate(until - timedelta(microseconds=1)).replace(day=1)
    else:
        newest = CustomerMonth.objects.using(using).filter(month__gte=month).aggregate(Max("month"))
        last = newest["month__max"] or month
    months = []
    while month <= last:
        months.append(month)
        if len(months) > SHORT_WINDOW_MONTHS:
            return None
        month = (month + timedelta(days=31)).replace(day=1)
    return months


def _ranked_within_months(months, *, since, until, limit, using):
    """The window's top `limit` customers, computed for those who could reach it in the
    window's `months` only; None when too many could.

    Nobody spends more in the window than they paid in its months (`CustomerMonth`,
    before refunds). The months' biggest spenders give the bar (their window ranking's
    `limit`-th figure); whoever reaches it paid at least its share in one of the months
    (the index on the month and what was paid), and at least all of it over the months.
    Called inside `_one_snapshot`.
    """
    window = {"since": since, "until": until, "limit": limit, "using": using}
    by_month = CustomerMonth.objects.using(using)
    leaders = set()
    for month in months:
        top = by_month.filter(month=month).order_by("-paid_cents")
        leaders.update(top.values_list("user_id", flat=True)[: max(LEADERS, limit)])
    rows = _ranking_rows("user_id", **window, owners=Q(user_id__in=leaders)) if leaders else []
    if len(rows) < limit or rows[-1][FIGURE] <= 0:
        return None
    bar = rows[-1][FIGURE]
    share = int(bar) // len(months)  # whoever reaches `bar` paid this in one of the months
    in_some_month = reduce(
        operator.or_, (Q(month=month, paid_cents__gte=share) for month in months)
    )
    # Subqueries of the ranking's own statement (on its database, whichever alias says it).
    candidates = CustomerMonth.objects.filter(in_some_month).values("user_id")
    if candidates.using(using)[: CONTENDERS + 1].count() > CONTENDERS:
        return None
    reaching = (
        CustomerMonth.objects.filter(month__in=months, user_id__in=candidates)
        .values("user_id")
        .annotate(paid=Sum("paid_cents"))
        .filter(paid__gte=bar)
        .values("user_id")
    )
    return _ranking_rows("user_id", **window, owners=Q(user_id__in=reaching))


def _window_ranking(key, *, since, until, limit, using):
    window = {"since": since, "until": until, "limit": limit, "using": using}
    rows = _pruned_ranking(RANKED[key], **window)
    return _ranking_rows(key, **window) if rows is None else rows


def customer_spend_in_window(*, since=None, until=None, limit=1, using=None):
    """A window: the `limit` biggest spenders, rows `{user_id, total_spent, purchase_count}`:
    what they paid for the window's purchases less what was refunded to them in it."""
    rows = _window_ranking("user_id", since=since, until=until, limit=limit, using=using)
    return [
        {
            "user_id": owner,
            "total_spent": Decimal(int(cents)).scaleb(-2),
            "purchase_count": int(bought),
        }
        for owner, cents, bought in rows
    ]


def product_units_in_window(*, since=None, until=None, limit=1, using=None):
    """A window: the `limit` best sellers, rows `{product_id, units_sold, purchase_count}`:
    the units of the window's purchases less those returned in it."""
    rows = _window_ranking("product_id", since=since, until=until, limit=limit, using=using)
    return [
        {"product_id": owner, "units_sold": int(units), "purchase_count": int(bought)}
        for owner, units, bought in rows
    ]


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
    rows = customer_spend_in_window(since=since, until=until, limit=limit, using=using)
    return _attach(User, rows, "user_id", ["total_spent", "purchase_count"], using)


def top_products(*, since=None, until=None, limit=1, using=None):
    """The `limit` best sellers, as `Product` objects carrying `units_sold` and
    `purchase_count`."""
    if _all_time(since, until):
        return list(products_by_units_sold(using)[:limit])
    rows = product_units_in_window(since=since, until=until, limit=limit, using=using)
    return _attach(Product, rows, "product_id", ["units_sold", "purchase_count"], using)


def most_valuable_customer(*, since=None, until=None, using=None):
    """The customer who spent the most in the window, or None when nobody bought anything."""
    return next(iter(top_customers(since=since, until=until, limit=1, using=using)), None)


def most_popular_product(*, since=None, until=None, using=None):
    """The product with the most units sold in the window, or None when none was sold."""
    return next(iter(top_products(since=since, until=until, limit=1, using=using)), None)


def sales_extent(*, since=None, until=None, using=None):
    """`{"first", "last"}`: the first and last instants of the window's purchases and
    refunds (None when it has neither), each read off the two ends of an index on
    `created_at`."""
    ends = [
        rows.objects.using(using)
        .in_period(since, until)
        .aggregate(first=Min("created_at"), last=Max("created_at"))
        for rows in (Purchase, Refund)
    ]
    firsts = [end["first"] for end in ends if end["first"] is not None]
    lasts = [end["last"] for end in ends if end["last"] is not None]
    return {"first": min(firsts, default=None), "last": max(lasts, default=None)}


TRUNCATIONS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth, "year": TruncYear}
# The first day of the bucket a day falls in, as `TRUNCATIONS` gives it in the database.
BUCKET_STARTS = {
    "day": lambda day: day,
    "week": lambda day: day - timedelta(days=day.weekday()),
    "month": lambda day: day.replace(day=1),
    "year": lambda day: day.replace(month=1, day=1),
}


def _by_bucket(rows, unit, since, until, using, **figures):
    bucket = TRUNCATIONS[unit]("created_at", output_field=DateField())
    return (
        rows.objects.using(using)
        .in_period(since, until)
        .annotate(bucket=bucket)
        .order_by()
        .values("bucket")
        .annotate(**figures)
    )


def _whole_days(since, until):
    """`(first, last)` days (None: open) when the window's ends are midnights in the shop's
    time zone, else None."""
    ends = []
    for end in (since, until):
        if end is None:
            ends.append(None)
            continue
        local = timezone.localtime(end)
        if local.time() != time.min:
            return None
        ends.append(local.date())
    first, after = ends
    return first, None if after is None else after - timedelta(days=1)


def revenue_by_period(*, since=None, until=None, unit="day", using=None):
    """Rows `{bucket, revenue, purchase_count}`, oldest first; only buckets with purchases
    or refunds.

    `revenue` is what the bucket's purchases were paid less what its refunds gave back
    (a refund counts on its own day). `unit` is "day", "week" (starting on Monday),
    "month" or "year"; `bucket` is the date the bucket starts on, in the shop's time zone
    (`TIME_ZONE`). A window of whole days (its ends midnights, or open) reads the days'
    revenue kept by every write (`DailyRevenue`, one query, a few rows a day); any other
    window groups its purchases and its refunds in the database (two aggregates).
    """
    days = _whole_days(since, until)
    if days is not None:
        return _revenue_from_days(*days, unit=unit, using=using)
    window = {"unit": unit, "since": since, "until": until, "using": using}
    buckets = defaultdict(lambda: {"revenue": Decimal("0.00"), "purchase_count": 0})
    for row in _by_bucket(Purchase, **window, paid=PaidSum(), purchase_count=Count("*")):
        buckets[row["bucket"]]["revenue"] += row["paid"]
        buckets[row["bucket"]]["purchase_count"] = row["purchase_count"]
    for row in _by_bucket(Refund, **window, refunded=MoneySum(F("amount"))):
        buckets[row["bucket"]]["revenue"] -= row["refunded"]
    return [{"bucket": day, **buckets[day]} for day in sorted(buckets)]


def _revenue_from_days(first, last, *, unit, using):
    rows = DailyRevenue.objects.using(using).order_by()
    if first is not None:
        rows = rows.filter(day__gte=first)
    if last is not None:
        rows = rows.filter(day__lte=last)
    start_of = BUCKET_STARTS[unit]
    buckets = defaultdict(lambda: [0, 0])
    for day, cents, purchases in rows.values_list("day", "revenue_cents", "purchase_count"):
        bucket = buckets[start_of(day)]
        bucket[0] += int(cents)
        bucket[1] += purchases
    return [
        {
            "bucket": bucket,
            "revenue": Decimal(buckets[bucket][0]).scaleb(-2),
            "purchase_count": buckets[bucket][1],
        }
        for bucket in sorted(buckets)
        if any(buckets[bucket])
    ]
