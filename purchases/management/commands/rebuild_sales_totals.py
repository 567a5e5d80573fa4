"""`python manage.py rebuild_sales_totals [--check]`: the sales totals, the customers' months
and each day's revenue from the purchases and refunds, and each purchase's refunded figures
from its refunds."""

import time
from collections import Counter
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from purchases import totals

SHOWN = 10  # drifting rows listed; the rest are counted
LABELS = {
    "spent_cents": "spent",
    "revenue_cents": "revenue",
    "units": "units",
    "units_sold": "units",
    "purchase_count": "purchases",
    "paid_cents": "paid",
    "units_purchased": "units purchased",
    "refunded_quantity": "units returned",
    "refunded_cents": "refunded",
}


def describe(figures):
    if figures is None:
        return "no row"
    shown = []
    for name, value in figures.items():
        if name.endswith("_cents"):
            value = f"{Decimal(value).scaleb(-2):.2f}"
        shown.append(f"{LABELS[name]} {value}")
    return ", ".join(shown)


def name(row):
    """A drifting row as the report names it."""
    if row.kind == "month":
        user_id, month = row.pk
        return f"customer {user_id} in {month:%Y-%m}"
    return f"{row.kind} {row.pk}"


class Command(BaseCommand):
    help = (
        "Recomputes the sales totals (per customer and per product, all time, net of refunds), "
        "what each customer paid each month, and each day's revenue from the purchases and "
        "refunds, after setting each purchase's refunded figures from its refunds: "
        "run it after writing purchases or refunds around the application (a bulk load of "
        "historical orders, a restored backup, a manual SQL fix). Purchase writes wait while "
        "it runs; reads go on. With --check, only compares them with the purchases and "
        "lists the rows that drift; exit status 1 if any does."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="report drift, write nothing; exit 1 on drift"
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="the database alias (default: default)"
        )

    def handle(self, *args, check, database, **options):
        if check:
            return self.verify(database)
        rebuilt = totals.rebuild(using=database)
        self.stdout.write(
            f"Rebuilt the sales totals from {rebuilt.purchases:,} purchases in"
            f" {rebuilt.seconds:.2f} s: {rebuilt.customers:,} customers,"
            f" {rebuilt.products:,} products, {rebuilt.months:,} customers' months,"
            f" {rebuilt.days:,} days' revenue."
        )
        if rebuilt.purchases_corrected:
            self.stdout.write(
                f"Set the refunded figures of {rebuilt.purchases_corrected:,} purchases from"
                " their refunds."
            )

    def verify(self, database):
        started = time.perf_counter()
        drifting = totals.drift(using=database)
        elapsed = time.perf_counter() - started
        if not drifting:
            self.stdout.write(
                f"Checked the sales totals against the purchases in {elapsed:.2f} s: no drift."
            )
            return
        for row in drifting[:SHOWN]:
            source = "its refunds" if row.kind == "purchase" else "the purchases"
            self.stdout.write(
                f"{name(row)}: stored {describe(row.stored)};"
                f" from {source} {describe(row.computed)}"
            )
        if len(drifting) > SHOWN:
            self.stdout.write(f"... and {len(drifting) - SHOWN:,} more")
        kinds = Counter(row.kind for row in drifting)
        rows = f"{kinds['customer']:,} customer and {kinds['product']:,} product rows"
        if kinds["month"]:
            rows = f"{rows}, {kinds['month']:,} customers' months"
        if kinds["day"]:
            rows = f"{rows}, {kinds['day']:,} days' revenue"
        if kinds["purchase"]:
            rows = f"{kinds['purchase']:,} purchases' refunded figures, {rows}"
        self.stdout.write(
            f"Checked the sales totals against the purchases in {elapsed:.2f} s: {rows} drift."
        )
        raise CommandError(
            f"the sales totals drift from the purchases ({rows});"
            " `manage.py rebuild_sales_totals` recomputes them",
            returncode=1,
        )
