"""What a purchase was paid (quantity times unit price), and what remains of it net of its
refunds: the one place they are computed, in Python, as ORM expressions and as SQL, exactly on
PostgreSQL and SQLite.

Every amount has one name per form, named alike: what was paid is `paid()` (a `Decimal`),
`paid_cents()` (integer cents), `paid_expression()` (an ORM expression over a purchase's
columns), `PaidSum` (its ORM aggregate) and `PaidCentsSum` (the same in cents); what a
purchase keeps net of its refunds (`refunded_amount`, kept on the purchase) is `net()`,
`net_cents()`, `net_expression()`, `NetSum` and `net_cents_sum_sql()` (its SQL aggregate, in
cents). What was refunded is stored as it was given (`Refund.amount`): sums of it are
`MoneySum`s.

Money summed by the database is exact: PostgreSQL sums NUMERIC. SQLite keeps decimals as
floating point, where equal sums can differ in the last bit and break ties the wrong way;
there each line is taken in integer cents and summed with TOTAL(), which is exact below
2**53 cents (about 90 trillion) and, unlike SUM() of integers, does not fail with
"integer overflow" above it.
"""

from decimal import ROUND_HALF_UP

from django.db.models import DecimalField, F, Func, Sum

# What one purchase row was paid, and what it keeps net of its refunds, in SQL over its own
# columns (`refunded_amount` is what its refunds add up to, kept on the row).
PAID_SQL = "quantity * unit_price"
NET_SQL = f"({PAID_SQL} - refunded_amount)"
# SQLite: a sum of money exact in integer cents (see the module's docstring).
SQLITE_CENTS_TOTAL = "TOTAL(CAST(ROUND({amount} * 100) AS INTEGER))"


def cents(amount):
    """An amount (a `Decimal` with at most 2 places) in integer cents."""
    return int(amount.scaleb(2).to_integral_value(ROUND_HALF_UP))


def paid(quantity, unit_price):
    """What a purchase of `quantity` at `unit_price` was paid (a `Decimal`)."""
    return unit_price * quantity


def paid_cents(quantity, unit_price):
    """`paid()` in integer cents."""
    return quantity * cents(unit_price)


def paid_expression():
    """`paid()` as an ORM expression over a purchase's `quantity` and `unit_price`."""
    return F("quantity") * F("unit_price")


def net(quantity, unit_price, refunded_amount):
    """What a purchase keeps of what it was paid once `refunded_amount` is given back."""
    return paid(quantity, unit_price) - refunded_amount


def net_cents(quantity, unit_price, refunded_amount):
    """`net()` in integer cents."""
    return paid_cents(quantity, unit_price) - cents(refunded_amount)


def net_expression():
    """`net()` as an ORM expression over a purchase's columns."""
    return paid_expression() - F("refunded_amount")


class MoneySum(Sum):
    """The sum of an amount of money per row, exact on both databases."""

    def __init__(self, expression, **extra):
        super().__init__(
            expression, output_field=DecimalField(max_digits=30, decimal_places=2), **extra
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        template = SQLITE_CENTS_TOTAL.format(amount="%(expressions)s") + " / 100"
        return self.as_sql(compiler, connection, template=template, **extra_context)


class PaidSum(MoneySum):
    """The sum of what the purchases were paid, exact on both databases."""

    def __init__(self, **extra):
        super().__init__(paid_expression(), **extra)


class NetSum(MoneySum):
    """The sum of what the purchases keep net of their refunds, exact on both databases."""

    def __init__(self, **extra):
        super().__init__(net_expression(), **extra)


class PaidCentsSum(Sum):
    """What the purchases were paid, in integer cents (`paid_cents()`), summed as
    `cents_sum_sql` sums it."""

    def __init__(self, **extra):
        super().__init__(
            paid_expression(), output_field=DecimalField(max_digits=32, decimal_places=0), **extra
        )

    def as_sql(self, compiler, connection, **extra_context):
        template = cents_sum_sql("%(expressions)s", connection)
        return super().as_sql(compiler, connection, template=template, **extra_context)


def cents_sql(amount_sql, connection):
    """SQL of one row's amount `amount_sql` in cents, as `cents()` gives it."""
    if connection.vendor == "sqlite":
        return f"CAST(ROUND({amount_sql} * 100) AS INTEGER)"
    return f"({amount_sql} * 100)"


def cents_sum_sql(amount_sql, connection):
    """SQL summing the amounts `amount_sql` of a `GROUP BY`'s rows, in cents, as `MoneySum`
    does."""
    if connection.vendor == "sqlite":
        return SQLITE_CENTS_TOTAL.format(amount=amount_sql)
    return f"SUM({amount_sql}) * 100"


def net_cents_sum_sql(connection):
    """SQL summing what the purchases of a `GROUP BY` keep net of their refunds, in cents, as
    `NetSum` does."""
    return cents_sum_sql(NET_SQL, connection)


class MoneyFromCents(Func):
    """Integer cents (the sales totals' money) as the amount `PaidSum` gives for the same sum.

    PostgreSQL: an exact NUMERIC with 2 places. SQLite: floating point divided by 100,
    exactly as `PaidSum` divides its integer cents there, so both give the same number.
    """

    template = "(%(expressions)s * 0.01)"
    output_field = DecimalField(max_digits=34, decimal_places=2)

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "(CAST(%(expressions)s AS REAL) / 100)"
        return self.as_sql(compiler, connection, template=template, **extra_context)
