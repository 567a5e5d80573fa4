"""Sales totals: kept by every purchase write; recomputed or verified from the purchases.

`CustomerSales` and `ProductSales` hold, per customer and per product, what the
purchases add up to over all time, net of their refunds (money less what was
refunded, units less those returned; purchase counts stay counts of purchases), so
that the all-time rankings read one row off an index instead of aggregating the whole
history; and, next to the ranked figure, the same before refunds (`paid_cents`,
`units_purchased`), which bounds any window's figure; `CustomerMonth`, per customer and
month, what they paid that month before refunds, which bounds a short window's figure
more tightly. `DailyRevenue` holds, per day
in the shop's time zone, what that day's purchases were paid less what the refunds
given that day gave back, and how many purchases it saw: the revenue chart reads a few
rows a day instead of the purchases.
What each purchase's refunds add up to is kept on the purchase itself
(`refunded_quantity`, `refunded_amount`), written with each refund
(`purchases.refunds`): the totals are sums over the purchases' own columns.

- Writes (`apply_change`): `purchases.services` calls it in the transaction that
  writes the purchase, after the purchase row is written, with the purchase as it
  was and as it is. Each affected totals row gets one upsert adding a signed delta
  (`INSERT … ON CONFLICT (pk) DO UPDATE SET col = table.col + excluded.col`): the
  database adds to the value it holds under the row's lock, so two writers never
  lose each other's increment, and no value is read into Python and written back.
  Rows are touched in one order (customers, then products, each by id, then customers'
  months by customer and month, then days by date), so two writers never wait on each
  other crosswise. A day's figures are spread
  over `DAY_SLOTS` rows, one picked at random by each write, so that the writers of a
  day seldom queue on one row.
- Rebuild (`rebuild`): after anything that writes purchases or refunds around the
  services (a bulk load of historical orders, a restored backup, a manual SQL fix),
  first sets each purchase's refunded figures that disagree with its refunds, then
  replaces the totals by `INSERT … SELECT … GROUP BY` over the purchases, in one transaction
  that holds purchase writes back meanwhile (the gate of `shop.locking`, which every
  purchase write and every deletion of a user or product passes first; reads go
  on), so that no increment is lost while it recomputes.
- Check (`drift`): the purchases whose refunded figures disagree with their refunds,
  the totals rows and customers' months that disagree with the purchases, and the days
  whose revenue disagrees with the purchases and refunds; it writes nothing. A change of
  `TIME_ZONE` moves days and months: rebuild after it.

Money is integer cents. On PostgreSQL `numeric(32, 0)`, exact at any size. On SQLite,
which keeps decimals as floating point, an integer, summed from rounded cents the
way `purchases.money` sums them: exact below 2**53 cents (about 90 trillion).
"""

import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Count, DateField, F, Sum, Value
from django.db.models.functions import TruncDay, TruncMonth
from django.utils import timezone

from purchases import money
from purchases.models import (
    CustomerMonth,
    CustomerSales,
    DailyRevenue,
    ProductSales,
    Purchase,
    Refund,
)
from shop.locking import stop_purchase_writes


@dataclass(frozen=True)
class Line:
    """What one purchase adds to the totals: what it sold, net of its refunds, and what it
    was paid on its day (its refunds count on theirs: `Refunded`)."""

    user_id: int | None  # None: the customer was deleted; counts for the product only
    product_id: int
    units: int  # bought, less those returned
    net_cents: int  # paid, less what was refunded
    day: date | None = None  # the day it was made, in the shop's time zone
    paid_cents: int = 0
    quantity: int = 0  # bought, returns left in

    @classmethod
    def of(cls, purchase):
        return cls(
            user_id=purchase.user_id,
            product_id=purchase.product_id,
            units=purchase.quantity - purchase.refunded_quantity,
            net_cents=money.net_cents(
                purchase.quantity, purchase.unit_price, purchase.refunded_amount
            ),
            day=timezone.localdate(purchase.created_at),
            paid_cents=money.paid_cents(purchase.quantity, purchase.unit_price),
            quantity=purchase.quantity,
        )


@dataclass(frozen=True)
class Refunded:
    """Money a refund gave back on its day: given (`cents` > 0), or taken back when the
    refund goes with its purchase (`cents` < 0)."""

    day: date
    cents: int

    @classmethod
    def given(cls, refund, sign=1):
        return cls(timezone.localdate(refund.created_at), sign * money.cents(refund.amount))


@dataclass(frozen=True)
class Figure:
    """One figure of a totals row: its field, what one purchase line adds to it, and the
    SQL aggregate that gives it over the purchases (a function of the connection)."""

    field: str
    of_line: Callable
    sum_sql: Callable


def _constant_sql(sql):
    return lambda connection: sql


@dataclass(frozen=True)
class Totals:
    """One kind of totals row: its model, the purchases' column it groups by, its figures."""

    model: type
    kind: str  # "customer" or "product", for messages
    line_key: str  # the `Line` attribute and the purchases' column naming the row
    figure_list: tuple  # `Figure`s

    @property
    def figures(self):
        """The figures' field names."""
        return tuple(figure.field for figure in self.figure_list)

    @property
    def table(self):
        return self.model._meta.db_table

    @property
    def key(self):
        return self.model._meta.pk.column

    def column(self, field):
        return self.model._meta.get_field(field).column

    def columns(self):
        return [self.column(name) for name in self.figures]


NET_CENTS = money.net_cents_sum_sql
UNITS = _constant_sql("SUM(quantity - refunded_quantity)")
COUNT = _constant_sql("COUNT(*)")
QUANTITY = _constant_sql("SUM(quantity)")
PAID_CENTS = partial(money.cents_sum_sql, money.PAID_SQL)
CUSTOMERS = Totals(
    CustomerSales,
    "customer",
    "user_id",
    (
        Figure("spent_cents", lambda line: line.net_cents, NET_CENTS),
        Figure("units", lambda line: line.units, UNITS),
        Figure("purchase_count", lambda line: 1, COUNT),
        Figure("paid_cents", lambda line: line.paid_cents, PAID_CENTS),
    ),
)
PRODUCTS = Totals(
    ProductSales,
    "product",
    "product_id",
    (
        Figure("units_sold", lambda line: line.units, UNITS),
        Figure("purchase_count", lambda line: 1, COUNT),
        Figure("revenue_cents", lambda line: line.net_cents, NET_CENTS),
        Figure("units_purchased", lambda line: line.quantity, QUANTITY),
    ),
)
KINDS = (CUSTOMERS, PRODUCTS)  # the order rows are written in


def _signed(before, after, removed):
    """`(line, sign)` of each purchase line the change takes away (-1) or adds (+1)."""
    lines = [(before, -1), (after, 1), *((line, -1) for line in removed)]
    return [(line, sign) for line, sign in lines if line is not None]


def deltas(before=None, after=None, *, removed=()):
    """What replacing the purchase `before` by `after` (either may be None), and removing
    the purchases `removed` (lines), changes.

    `{totals: {pk: {figure field: delta}}}` for `CUSTOMERS` and `PRODUCTS`, without the
    rows that do not change.
    """
    lines = _signed(before, after, removed)
    changes = {}
    for totals in KINDS:
        rows = {}
        for line, sign in lines:
            pk = getattr(line, totals.line_key)
            if pk is None:
                continue
            row = rows.setdefault(pk, dict.fromkeys(totals.figures, 0))
            for figure in totals.figure_list:
                row[figure.field] += sign * figure.of_line(line)
        changes[totals] = {pk: row for pk, row in rows.items() if any(row.values())}
    return changes


def _upsert_sql(totals, connection):
    quote = connection.ops.quote_name
    table, key = quote(totals.table), quote(totals.key)
    columns = [quote(column) for column in totals.columns()]
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    placeholders = ", ".join(["%s"] * (len(columns) + 1))
    return (
        f"INSERT INTO {table} ({key}, {', '.join(columns)}) VALUES ({placeholders})"
        f" ON CONFLICT ({key}) DO UPDATE SET {added}"
    )


def month_deltas(before=None, after=None, *, removed=()):
    """`{(user id, month): paid cents}`: what the same change does to the customers'
    months (what they paid, before refunds), without the rows that do not change."""
    months = defaultdict(int)
    for line, sign in _signed(before, after, removed):
        if line.user_id is not None:
            months[line.user_id, line.day.replace(day=1)] += sign * line.paid_cents
    return {key: cents for key, cents in months.items() if cents}


def _month_upsert_sql(connection):
    quote = connection.ops.quote_name
    table, paid = quote(CustomerMonth._meta.db_table), quote("paid_cents")
    return (
        f"INSERT INTO {table} ({quote('user_id')}, {quote('month')}, {paid}) VALUES (%s, %s, %s)"
        f" ON CONFLICT ({quote('user_id')}, {quote('month')})"
        f" DO UPDATE SET {paid} = {table}.{paid} + excluded.{paid}"
    )


# Rows each day's revenue is spread over: writers of one day pick one at random.
DAY_SLOTS = 16


def day_deltas(before=None, after=None, *, removed=(), refunded=()):
    """`{day: (revenue cents, purchases)}`: what the same change (and the refunds'
    `Refunded`) does to the days' revenue, without the days that do not change."""
    days = defaultdict(lambda: [0, 0])
    for line, sign in _signed(before, after, removed):
        days[line.day][0] += sign * line.paid_cents
        days[line.day][1] += sign
    for refund in refunded:
        days[refund.day][0] -= refund.cents
    return {day: tuple(figures) for day, figures in days.items() if any(figures)}


def _day_upsert_sql(connection):
    quote = connection.ops.quote_name
    table = quote(DailyRevenue._meta.db_table)
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in map(quote, DAY_FIGURES))
    return (
        f"INSERT INTO {table} (day, slot, {', '.join(map(quote, DAY_FIGURES))})"
        f" VALUES (%s, %s, %s, %s) ON CONFLICT (day, slot) DO UPDATE SET {added}"
    )


DAY_FIGURES = ("revenue_cents", "purchase_count")
MONTH_FIGURES = ("paid_cents",)


def apply_change(before=None, after=None, *, removed=(), refunded=(), using=DEFAULT_DB_ALIAS):
    """Adds to the totals what replacing purchase line `before` by `after` changes,
    removing the purchase lines `removed` (several deleted in one transaction), and the
    refunds `refunded` (`Refunded`: given, or going with their purchase) do.

    Call it inside the transaction that writes the purchase, after writing it (the
    rebuild waits for purchase writers to commit before it touches the totals: a
    writer holding totals rows while waiting to write a purchase would deadlock it).
    One statement per changed row, customers first, each kind by id, then the customers'
    months, by customer and month, then the days' revenue, by day.
    """
    connection = connections[using]
    changes = deltas(before, after, removed=removed)
    months = month_deltas(before, after, removed=removed)
    days = day_deltas(before, after, removed=removed, refunded=refunded)
    with connection.cursor() as cursor:
        for totals in KINDS:
            rows = changes[totals]
            if not rows:
                continue
            sql = _upsert_sql(totals, connection)
            for pk in sorted(rows):
                cursor.execute(sql, [pk, *(rows[pk][field] for field in totals.figures)])
        if months:
            sql = _month_upsert_sql(connection)
            for user_id, month in sorted(months):
                cursor.execute(sql, [user_id, month, months[user_id, month]])
        if days:
            slot = random.randrange(DAY_SLOTS)  # spreads writers; nothing secret
            sql = _day_upsert_sql(connection)
            for day in sorted(days):
                cursor.execute(sql, [day, slot, *days[day]])


# --- Recomputing from the purchases --------------------------------------------------

# A purchase's refunded figures, in the form the check compares (`Drift`).
REFUNDED = ("refunded_quantity", "refunded_cents")


def _refunded_drift_sql(connection):
    """`SELECT id, stored…, computed…` of the purchases whose refunded figures (units and
    cents) disagree with what their refunds add up to."""
    quote = connection.ops.quote_name
    purchases, refunds = quote(Purchase._meta.db_table), quote(Refund._meta.db_table)
    refunded_cents = money.cents_sql("p.refunded_amount", connection)
    return f"""
        SELECT p.id, p.refunded_quantity, {refunded_cents},
            COALESCE(r.units, 0), COALESCE(r.cents, 0)
        FROM {purchases} AS p LEFT JOIN (
            SELECT purchase_id, SUM(quantity) AS units,
                {money.cents_sum_sql("amount", connection)} AS cents
            FROM {refunds} GROUP BY purchase_id
        ) AS r ON r.purchase_id = p.id
        WHERE p.refunded_quantity <> COALESCE(r.units, 0)
            OR {refunded_cents} <> COALESCE(r.cents, 0)
    """


def _set_refunded_sql(connection):
    """`UPDATE` of the purchases whose refunded figures disagree with their refunds."""
    quote = connection.ops.quote_name
    purchases, refunds = quote(Purchase._meta.db_table), quote(Refund._meta.db_table)
    of_purchase = f"FROM {refunds} AS r WHERE r.purchase_id = {purchases}.id"
    cents = money.cents_sum_sql("r.amount", connection)
    return f"""
        UPDATE {purchases} SET
            refunded_quantity = COALESCE((SELECT SUM(r.quantity) {of_purchase}), 0),
            refunded_amount = COALESCE((SELECT {cents} {of_purchase}), 0) / 100
        WHERE id IN (SELECT drifting.id FROM ({_refunded_drift_sql(connection)}) AS drifting)
    """


def aggregate_sql(totals, connection):
    """`SELECT key, figures… FROM purchases GROUP BY key`: the totals as the purchases give
    them, the figures in `totals.figures` order."""
    purchases = connection.ops.quote_name(Purchase._meta.db_table)
    key = totals.line_key
    figures = ", ".join(figure.sum_sql(connection) for figure in totals.figure_list)
    return f"SELECT {key}, {figures} FROM {purchases} WHERE {key} IS NOT NULL GROUP BY {key}"


def _days_sources(using):
    """One statement: `(day, money, purchases, source)` rows of the purchases' days (money
    paid), the refunds' days (money given back) and the stored days (cents), `source`
    saying which; the days in the shop's time zone."""
    day = TruncDay("created_at", output_field=DateField())
    purchases = (
        Purchase.objects.using(using)
        .annotate(day=day)
        .order_by()
        .values("day")
        .annotate(money=money.PaidSum(), purchases=Count("*"), source=Value("purchases"))
    )
    refunds = (
        Refund.objects.using(using)
        .annotate(day=day)
        .order_by()
        .values("day")
        .annotate(money=money.MoneySum(F("amount")), purchases=Value(0), source=Value("refunds"))
    )
    stored = (
        DailyRevenue.objects.using(using)
        .order_by()
        .values("day")
        .annotate(
            money=Sum("revenue_cents"), purchases=Sum("purchase_count"), source=Value("stored")
        )
    )
    return purchases.union(refunds, stored, all=True).values_list(
        "day", "money", "purchases", "source"
    )


def _days(using):
    """`(computed, stored)`: `{day: (revenue cents, purchases)}` as the purchases and
    refunds give them and as `DailyRevenue` holds them, read at one instant; days of
    zeros left out."""
    computed, stored = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for day, amount, purchases, source in _days_sources(using):
        if source == "stored":
            stored[day][0] += int(amount)
            stored[day][1] += int(purchases)
        else:
            sign = 1 if source == "purchases" else -1
            computed[day][0] += sign * money.cents(amount)
            computed[day][1] += int(purchases)
    return tuple(
        {day: tuple(figures) for day, figures in days.items() if any(figures)}
        for days in (computed, stored)
    )


def _rebuild_days(using):
    """Replaces the days' revenue by what the purchases and refunds give (in the caller's
    transaction, purchase writes held back); returns the number of days."""
    computed, _ = _days(using)
    DailyRevenue.objects.using(using).all().delete()
    DailyRevenue.objects.using(using).bulk_create(
        DailyRevenue(day=day, slot=0, revenue_cents=cents, purchase_count=purchases)
        for day, (cents, purchases) in computed.items()
    )
    return len(computed)


def rebuild_days(*, using=DEFAULT_DB_ALIAS):
    """The days' revenue alone, from the purchases and refunds (the migration that adds
    it); purchase writes wait meanwhile, as for `rebuild`."""
    with transaction.atomic(using=using):
        stop_purchase_writes(using)
        return _rebuild_days(using)


def _months_sql(connection, using):
    """`(sql, params)`: `SELECT user_id, month, paid` of every customer's months as the
    purchases give them (what they paid, in cents; the months in the shop's time zone)."""
    months = (
        Purchase.objects.using(using)
        .filter(user__isnull=False)
        .annotate(month=TruncMonth("created_at", output_field=DateField()))
        .order_by()
        .values("user_id", "month")
        .annotate(paid=money.PaidCentsSum())
    )
    return months.query.get_compiler(connection=connection).as_sql()


# The customers' months as the purchases give them, for the rebuild to compare with.
MONTHS_COMPUTED = "purchases_months_computed"


def _rebuild_months(cursor, connection, using):
    """Makes the customers' months what the purchases give (in the caller's transaction,
    purchase writes held back); returns the number of rows.

    Only the rows that differ are written: the months are about a row per customer per
    month they bought in (8M at 10M purchases), and rewriting them all would hold
    purchase writes back for minutes where a rebuild after a small load changes a few."""
    quote = connection.ops.quote_name
    table, computed = quote(CustomerMonth._meta.db_table), quote(MONTHS_COMPUTED)
    user_id, month, paid = quote("user_id"), quote("month"), quote("paid_cents")
    sql, params = _months_sql(connection, using)
    cursor.execute(f"DROP TABLE IF EXISTS {computed}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {computed} AS SELECT user_id, month, paid FROM ({sql}) AS m",
        params,
    )
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {computed}")
    same = f"c.user_id = {table}.{user_id} AND c.month = {table}.{month}"
    gone = f"NOT EXISTS (SELECT 1 FROM {computed} c WHERE {same})"
    cursor.execute(f"DELETE FROM {table} WHERE {gone}")
    cursor.execute(
        f"INSERT INTO {table} ({user_id}, {month}, {paid})"
        f" SELECT c.user_id, c.month, c.paid FROM {computed} c"
        f" LEFT JOIN {table} s ON s.{user_id} = c.user_id AND s.{month} = c.month"
        f" WHERE s.{user_id} IS NULL OR s.{paid} <> c.paid"
        f" ON CONFLICT ({user_id}, {month}) DO UPDATE SET {paid} = excluded.{paid}"
    )
    cursor.execute(f"SELECT COUNT(*) FROM {computed}")
    (rows,) = cursor.fetchone()
    cursor.execute(f"DROP TABLE {computed}")
    return rows


def rebuild_months(*, using=DEFAULT_DB_ALIAS):
    """The customers' months alone, from the purchases (the migration that adds them);
    purchase writes wait meanwhile, as for `rebuild`."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        stop_purchase_writes(using)
        return _rebuild_months(cursor, connection, using)


@dataclass(frozen=True)
class Rebuilt:
    customers: int  # rows written
    products: int
    months: int  # customers' months
    days: int
    purchases: int  # purchases counted
    purchases_corrected: int  # purchases whose refunded figures were set from their refunds
    seconds: float


def rebuild(*, using=DEFAULT_DB_ALIAS):
    """Replaces the totals and the days' revenue by what the purchases (and refunds) add up
    to, in one transaction (`Rebuilt`), after setting the purchases' refunded figures that
    disagree with their refunds.

    It closes the purchase writes' gate first (`shop.locking.stop_purchase_writes`):
    writes already under way finish first, then purchase writes and deletions of users
    and products wait until the new totals commit, while reads of purchases and of the
    old totals go on. On SQLite the transaction itself holds writers back.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    started = time.perf_counter()
    with transaction.atomic(using=using), connection.cursor() as cursor:
        stop_purchase_writes(using)
        cursor.execute(_set_refunded_sql(connection))
        purchases_corrected = cursor.rowcount
        written = {}
        for totals in KINDS:
            table = quote(totals.table)
            columns = ", ".join(quote(c) for c in [totals.key, *totals.columns()])
            # DELETE, not TRUNCATE: TRUNCATE would shut out the readers of the totals.
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute(f"INSERT INTO {table} ({columns}) {aggregate_sql(totals, connection)}")
            written[totals.kind] = cursor.rowcount
        months = _rebuild_months(cursor, connection, using)
        days = _rebuild_days(using)
        count = quote(PRODUCTS.column("purchase_count"))
        cursor.execute(f"SELECT COALESCE(SUM({count}), 0) FROM {quote(PRODUCTS.table)}")
        (purchases,) = cursor.fetchone()
    return Rebuilt(
        customers=written["customer"],
        products=written["product"],
        months=months,
        days=days,
        purchases=int(purchases),
        purchases_corrected=purchases_corrected,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class Drift:
    """A totals row that disagrees with the purchases, a day ("day", `pk` its date) whose
    revenue disagrees with the purchases and refunds, or a purchase ("purchase") whose
    refunded figures (`REFUNDED`) disagree with its refunds.

    `stored` and `computed` are `{figure field: value}`; None where the row is missing
    (a stored row of zeros counts as missing: it ranks nowhere).
    """

    kind: str
    pk: int
    stored: dict | None
    computed: dict | None


def _drift_sql(totals, connection):
    quote = connection.ops.quote_name
    key = quote(totals.key)
    columns = [quote(c) for c in totals.columns()]
    figures = ", ".join(columns)
    differs = " OR ".join(f"s.{c} <> c.{c}" for c in columns)
    nonzero = " OR ".join(f"{c} <> 0" for c in columns)
    nulls = ", ".join(["NULL"] * len(columns))
    stored_of = ", ".join(f"s.{c}" for c in columns)
    computed_of = ", ".join(f"c.{c}" for c in columns)
    return f"""
        WITH stored AS (
            SELECT {key}, {figures} FROM {quote(totals.table)} WHERE {nonzero}
        ), computed ({key}, {figures}) AS ({aggregate_sql(totals, connection)})
        SELECT c.{key}, {stored_of}, {computed_of}
        FROM computed AS c LEFT JOIN stored AS s ON s.{key} = c.{key}
        WHERE s.{key} IS NULL OR {differs}
        UNION ALL
        SELECT s.{key}, {stored_of}, {nulls}
        FROM stored AS s
        WHERE NOT EXISTS (SELECT 1 FROM computed AS c WHERE c.{key} = s.{key})
        ORDER BY 1
    """


def _months_drift_sql(connection, using):
    """`(sql, params)`: `(user_id, month, stored, computed)` of the customers' months that
    disagree with the purchases (a row at zero counts as missing)."""
    quote = connection.ops.quote_name
    table = quote(CustomerMonth._meta.db_table)
    months_sql, params = _months_sql(connection, using)
    same = "c.user_id = s.user_id AND c.month = s.month"
    return (
        f"""
        WITH stored AS (
            SELECT user_id, month, paid_cents FROM {table} WHERE paid_cents <> 0
        ), computed AS (
            SELECT user_id, month, paid FROM ({months_sql}) AS m WHERE paid <> 0
        )
        SELECT c.user_id, c.month, s.paid_cents, c.paid
        FROM computed AS c LEFT JOIN stored AS s ON {same}
        WHERE s.user_id IS NULL OR s.paid_cents <> c.paid
        UNION ALL
        SELECT s.user_id, s.month, s.paid_cents, NULL
        FROM stored AS s
        WHERE NOT EXISTS (SELECT 1 FROM computed AS c WHERE {same})
        ORDER BY 1, 2
        """,
        params,
    )


def drift(*, using=DEFAULT_DB_ALIAS):
    """Every purchase whose refunded figures disagree with its refunds, then every totals
    row that disagrees with the purchases, customers first, then every customer's month
    (`pk` `(user id, month)`), then every day (`Drift`s).

    Reads only. Each kind is compared in one statement, so within it the figures
    compared are seen at one instant: writes committing meanwhile cannot show up as
    drift.
    """
    connection = connections[using]
    found = []
    with connection.cursor() as cursor:
        cursor.execute(_refunded_drift_sql(connection) + " ORDER BY 1")
        for pk, *values in cursor.fetchall():
            found.append(
                Drift(
                    kind="purchase",
                    pk=pk,
                    stored=_named(REFUNDED, values[:2]),
                    computed=_named(REFUNDED, values[2:]),
                )
            )
        for totals in KINDS:
            cursor.execute(_drift_sql(totals, connection))
            width = len(totals.figures)
            for pk, *values in cursor.fetchall():
                stored, computed = values[:width], values[width:]
                found.append(
                    Drift(
                        kind=totals.kind,
                        pk=pk,
                        stored=_named(totals.figures, stored),
                        computed=_named(totals.figures, computed),
                    )
                )
        cursor.execute(*_months_drift_sql(connection, using))
        for user_id, month, stored, computed in cursor.fetchall():
            # The computed month comes back as a date, a midnight or (SQLite) text.
            month = date.fromisoformat(str(month)[:10])
            found.append(
                Drift(
                    kind="month",
                    pk=(user_id, month),
                    stored=_named(MONTH_FIGURES, (stored,)),
                    computed=_named(MONTH_FIGURES, (computed,)),
                )
            )
    computed, stored = _days(using)
    for day in sorted(computed.keys() | stored.keys()):
        if computed.get(day) != stored.get(day):
            found.append(
                Drift(
                    kind="day",
                    pk=day,
                    stored=_named(DAY_FIGURES, stored.get(day, (None,))),
                    computed=_named(DAY_FIGURES, computed.get(day, (None,))),
                )
            )
    return found


def _named(figures, values):
    """`{figure field: value}` of a row read in `figures` order; None if missing."""
    if values[0] is None:
        return None
    # The database hands back cents as Decimal (PostgreSQL) or float (SQLite's TOTAL).
    return {name: int(value) for name, value in zip(figures, values, strict=True)}
