"""What a purchase was paid (quantity times unit price): the one place it is computed, in Python,
as an ORM expression and as SQL, exactly on PostgreSQL and SQLite.

Every amount has one name per form: `paid()` (a `Decimal`), `paid_cents()` (integer cents),
`paid_expression()` (an ORM expression over a purchase's columns), `PaidSum` (its ORM
aggregate) and `paid_cents_sum_sql()` (its SQL aggregate, in cents). An amount derived from
what was paid (refunded, net) takes the same five forms, named alike, beside these.

Money summed by the database is exact: PostgreSQL sums NUMERIC. SQLite keeps decimals as
floating point, where equal sums can differ in the last bit and break ties the wrong way;
there each line is taken in integer cents and summed with TOTAL(), which is exact below
2**53 cents (about 90 trillion) and, unlike SUM() of integers, does not fail with
"integer overflow" above it.
"""

from decimal import ROUND_HALF_UP

from django.db.models import DecimalField, F, Func, Sum

# What one purchase row was paid, in SQL over its own columns.
PAID_SQL = "quantity * unit_price"
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


class PaidSum(Sum):
    """The sum of what the purchases were paid, exact on both databases."""

    def __init__(self, **extra):
        super().__init__(
            paid_expression(),
            output_field=DecimalField(max_digits=30, decimal_places=2),
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        template = SQLITE_CENTS_TOTAL.format(amount="%(expressions)s") + " / 100"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def paid_cents_sum_sql(connection):
    """SQL summing what the purchases of a `GROUP BY` were paid, in cents, as `PaidSum` does."""
    if connection.vendor == "sqlite":
        return SQLITE_CENTS_TOTAL.format(amount=PAID_SQL)
    return f"SUM({PAID_SQL}) * 100"


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
