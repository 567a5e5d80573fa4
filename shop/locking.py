"""The one order in which writes take their locks, and the gate of the sales totals rebuild.

Two transactions deadlock when each holds a lock the other waits for; PostgreSQL
then kills one ("deadlock detected", a 500). They cannot if every transaction that
takes more than one lock takes them in one order. This is that order; every path
takes the steps it needs, in this order, and skips the others:

| Step | Locks                                   | How                                          |
|------|-----------------------------------------|----------------------------------------------|
| 1    | an `Idempotency-Key`'s row              | its insert waits on the key's unique index   |
| 2    | the purchase writes' gate               | `LOCK TABLE purchases` (`hold_off_rebuild`)  |
| 3    | users' rows, in id order                | `FOR NO KEY UPDATE`; `FOR UPDATE` to delete  |
|      |                                         | a user or change staff or active status      |
| 4    | a purchase's row                        | `FOR UPDATE`, after its customers' rows      |
|      | (and its refunds' rows, written after)  | insert; deleted with it; `created_by` unset  |
| 5    | products' rows, in id order             | `FOR UPDATE`                                 |
| 6    | customers' sales totals, in id order    | upsert, delete                               |
| 7    | products' sales totals, in id order     | upsert, delete                               |
| 8    | customers' months, by customer and month| upsert, delete                               |
| 9    | days' revenue, by day                   | upsert                                       |
| 10   | rows a locked user owns or names        | tokens, second factors, log entries, runs    |

What takes which steps (the test `shop.tests.test_locking` records the statements of
each and checks them against `ORDER`):

- recording a purchase: (1), 2, 3 (the customer), 5 (the product), 6, 7, 8, 9;
- correcting or moving a purchase, deleting one: 2, 3 (its customer and the one it
  moves to), 4, 5 (the product it moves to), 6, 7, 8, 9. Should the purchase have moved to a
  customer not locked at step 3 meanwhile, the pass is rolled back to a savepoint,
  which lets go of its locks, and taken again from step 3;
- refunding a purchase (`purchases.refunds`): (1), 2, 3 (its customer and the staff member
  giving it), 4, 6, 7, 9;
- deleting a user: 2, 3 (them and the active staff), 4 (detaching their purchases),
  6, 8, 10, then their own row, held since step 3; deactivating one or changing staff
  status: 3 (them and the active staff), 10 (revoking their tokens); issuing a token or
  resetting a second factor: 3, 10;
- deleting a product: 2, 5, 7, then its row;
- the admin's "delete selected" (`delete_users`, `delete_purchases`, `delete_products`):
  as deleting one, all the rows of each step in one statement, in id order;
- `rebuild_sales_totals`: 2 (`SHARE`: no purchase write runs meanwhile), 4 (the
  purchases whose refunded figures disagree with their refunds), 6, 7, 8, 9. Its
  commit checks the foreign keys of the rows it wrote (`KEY SHARE` on users and
  products, after step 9): anything that may hold a user's or product's row
  `FOR UPDATE` and then wait on purchases or totals passes step 2 first;
- the catalogue import (`products.backfill`): 5 only, many rows per statement.

A path may come back to rows it already holds (a purchase written after its product
was locked, a user's row deleted last): that takes no new lock.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections


@dataclass(frozen=True)
class Step:
    """One line of the table: what it locks, and the tables whose rows it is."""

    name: str
    tables: tuple  # (app label, model name) of the models locked at this step


ORDER = (
    Step("idempotency key", (("shop", "IdempotencyKey"),)),
    Step("purchase writes' gate", ()),  # a table lock, not rows: `hold_off_rebuild`
    Step("users", (("users", "User"),)),
    Step("purchase", (("purchases", "Purchase"), ("purchases", "Refund"))),
    Step("products", (("products", "Product"),)),
    Step("customer totals", (("purchases", "CustomerSales"),)),
    Step("product totals", (("purchases", "ProductSales"),)),
    Step("customers' months", (("purchases", "CustomerMonth"),)),
    Step("days' revenue", (("purchases", "DailyRevenue"),)),
    Step(
        "rows a user owns",
        (
            ("knox", "AuthToken"),
            ("admin", "LogEntry"),
            ("users", "User_groups"),
            ("users", "User_user_permissions"),
            ("products", "BackfillRun"),
            ("otp_totp", "TOTPDevice"),
            ("otp_static", "StaticDevice"),
            ("otp_static", "StaticToken"),
        ),
    ),
)


def _purchases_table(connection):
    return connection.ops.quote_name(apps.get_model("purchases", "Purchase")._meta.db_table)


def hold_off_rebuild(using=DEFAULT_DB_ALIAS):
    """Step 2 for a writer: waits for a rebuild of the sales totals under way, and makes a
    rebuild wait until this transaction ends. Writers do not wait for one another here.

    Call it first in the transaction of any write to purchases or to the totals, and of
    any deletion of a user or product. On PostgreSQL it is the lock an `INSERT` takes on
    the purchases table anyway (`ROW EXCLUSIVE`), taken up front; on SQLite, whose
    writers take turns, there is nothing to take.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_purchases_table(connection)} IN ROW EXCLUSIVE MODE")


def stop_purchase_writes(using=DEFAULT_DB_ALIAS):
    """Step 2 for the rebuild: waits for the writers under way, and holds new ones back
    until this transaction ends; reads go on (`SHARE` mode)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_purchases_table(connection)} IN SHARE MODE")
