"""Every path that takes more than one lock takes them in the order of `shop.locking.ORDER`.

PostgreSQL only (SQLite takes no row locks). Each test runs one path with every SQL
statement recorded (`connection.execute_wrapper`) and reads off the locks it takes:
a locking `SELECT … FOR [NO KEY] UPDATE`, an `UPDATE`, a `DELETE`, an upsert
(`INSERT … ON CONFLICT`) or a `LOCK TABLE`, each at the step of its table. A plain
`INSERT` is left out: the new row is no one else's to wait for. A savepoint rolled
back lets go of what was taken since it. Then:

- no lock is taken at a step before one already held, unless it writes rows of a
  step the path holds already (the rows it locked earlier: a purchase written after
  its product was locked, a user's row deleted last);
- a locking read of several rows takes them in id order (`ORDER BY`);
- the steps the path takes are the ones its place in the table says.
"""

import re
import threading
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from knox.models import AuthToken

from products import services as product_services
from products.models import Product
from purchases import refunds, services, totals
from purchases.models import ProductSales, Purchase
from shop.locking import ORDER
from users import second_factor
from users import services as user_services

pytestmark = pytest.mark.usefixtures("postgres_only")

# The step that is a table lock, not rows (`hold_off_rebuild`, `stop_purchase_writes`).
GATE = next(step for step in ORDER if step.name == "purchase writes' gate")

LOCK_TABLE = re.compile(r'\s*LOCK TABLE "(\w+)"', re.IGNORECASE)
LOCKING_READ = re.compile(r'\s*SELECT .*? FROM "(\w+)".* FOR (?:NO KEY )?UPDATE', re.S)
WRITE = re.compile(r'\s*(?:UPDATE "(\w+)"|DELETE FROM "(\w+)"|INSERT INTO "(\w+)")')
SAVEPOINT = re.compile(r'\s*SAVEPOINT "?(\w+)"?')
ROLLBACK_TO = re.compile(r'\s*ROLLBACK TO SAVEPOINT "?(\w+)"?')
ONE_ROW = re.compile(r'WHERE "\w+"\."id" = %s(?: LIMIT 1)?\s+FOR')


def step_of_table():
    steps = {}
    for index, step in enumerate(ORDER):
        for app_label, model_name in step.tables:
            steps[apps.get_model(app_label, model_name)._meta.db_table] = index
    return steps


def locks_taken(statements):
    """`[(step index, kind, sql)]` of the locks the statements take, savepoints undone."""
    steps, taken, marks = step_of_table(), [], {}
    for sql in statements:
        if match := SAVEPOINT.match(sql):
            marks[match[1]] = len(taken)
        elif match := ROLLBACK_TO.match(sql):
            del taken[marks[match[1]] :]
        elif LOCK_TABLE.match(sql):
            taken.append((ORDER.index(GATE), "gate", sql))
        elif match := LOCKING_READ.match(sql):
            taken.append((steps[match[1]], "read", sql))
        elif match := WRITE.match(sql):
            table = next(name for name in match.groups() if name)
            if sql.lstrip().startswith("INSERT") and "ON CONFLICT" not in sql:
                continue  # a new row: nobody else can be waiting for it
            if table in steps:
                taken.append((steps[table], "write", sql))
    return taken


def out_of_order(taken):
    """The locks taken against the order: a sentence each."""
    wrong, held = [], set()
    for step, kind, sql in taken:
        top = max(held, default=-1)
        if step < top and not (kind in ("write", "gate") and step in held):
            wrong.append(f"{ORDER[step].name} after {ORDER[top].name}: {sql[:200]}")
        if kind == "read" and not ONE_ROW.search(sql) and "ORDER BY" not in sql:
            wrong.append(f"several {ORDER[step].name} rows in no order: {sql[:200]}")
        held.add(step)
    return wrong


def first_steps(taken):
    """The names of the steps, in the order the path first takes them."""
    names = []
    for step, _, _ in taken:
        if ORDER[step].name not in names:
            names.append(ORDER[step].name)
    return names


@contextmanager
def recorded():
    """Records every statement run on the default connection: `with recorded() as sqls`."""
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def assert_in_order(statements, expected_steps):
    taken = locks_taken(statements)
    assert out_of_order(taken) == [], "\n".join(statements)
    assert first_steps(taken) == expected_steps, "\n".join(statements)


GATED = [GATE.name]
ROLLUPS = ["customer totals", "product totals", "customers' months", "days' revenue"]
BUYING = [*GATED, "users", "products", *ROLLUPS]
CORRECTING = [*GATED, "users", "purchase", *ROLLUPS]
MOVING = [*GATED, "users", "purchase", "products", *ROLLUPS]
# A refund changes what was kept, not what was paid: no customer's month.
REFUNDING = [*GATED, "users", "purchase", "customer totals", "product totals", "days' revenue"]


@pytest.fixture
def shop(make_user):
    """Two customers and two products, a purchase of each customer, an active staff member."""
    ann, ben = make_user(), make_user()
    pen = Product.objects.create(sku="PEN", name="Pen", price=Decimal("2.00"))
    ink = Product.objects.create(sku="INK", name="Ink", price=Decimal("5.00"))
    staff = make_user(is_staff=True)
    return {
        "ann": ann,
        "ben": ben,
        "pen": pen,
        "ink": ink,
        "staff": staff,
        "anns": services.create_purchase(user=ann, product=pen, quantity=2),
        "bens": services.create_purchase(user=ben, product=ink),
    }


@pytest.mark.django_db
def test_recording_a_purchase_locks_in_order(shop):
    with recorded() as statements:
        services.create_purchase(user=shop["ann"], product=shop["ink"], quantity=3)
    assert_in_order(statements, BUYING)


@pytest.mark.django_db
def test_correcting_a_quantity_locks_in_order(shop):
    with recorded() as statements:
        services.update_purchase(shop["anns"], quantity=5)
    assert_in_order(statements, CORRECTING)


@pytest.mark.django_db
def test_moving_a_purchase_to_another_customer_and_product_locks_in_order(shop):
    with recorded() as statements:
        services.update_purchase(shop["anns"], user=shop["ben"], product=shop["ink"])
    assert_in_order(statements, MOVING)


@pytest.mark.django_db
def test_deleting_a_purchase_locks_in_order(shop):
    with recorded() as statements:
        services.delete_purchase(shop["bens"])
    assert_in_order(statements, CORRECTING)


@pytest.mark.django_db
def test_refunding_a_purchase_locks_in_order(shop):
    with recorded() as statements:
        refunds.refund_purchase(shop["anns"], by=shop["staff"], quantity=1, reason="returned")
    assert_in_order(statements, REFUNDING)


@pytest.mark.django_db
def test_deleting_a_refunded_purchase_locks_in_order(shop):
    refunds.refund_purchase(shop["anns"], by=shop["staff"], quantity=1, reason="returned")
    with recorded() as statements:
        services.delete_purchase(shop["anns"])
    assert any("purchase_refunds" in sql for sql in statements)  # its refunds go with it
    assert_in_order(statements, CORRECTING)


@pytest.mark.django_db(transaction=True)
def test_a_purchase_moved_meanwhile_is_locked_again_from_its_customers(shop):
    """Between the customers' rows and the purchase's, another transaction moves the
    purchase to a third customer: the pass lets go of its locks and starts again."""
    third = user_services.create_user(email="third@example.com")
    purchase = shop["anns"]
    statements, interfered = [], []

    def move_elsewhere():
        Purchase.objects.filter(pk=purchase.pk).update(user=third)
        connection.close()

    def record(execute, sql, params, many, context):
        statements.append(sql)
        result = execute(sql, params, many, context)
        if not interfered and LOCKING_READ.match(sql) and '"users_user"' in sql:
            interfered.append(sql)  # right after the first pass locked the customers
            mover = threading.Thread(target=move_elsewhere)
            mover.start()
            mover.join(timeout=30)
        return result

    with connection.execute_wrapper(record):
        moved = services.update_purchase(purchase, user=shop["ben"])

    assert any(ROLLBACK_TO.match(sql) for sql in statements), "\n".join(statements)
    assert_in_order(
        statements, [*GATED, "users", "purchase", "customer totals", "customers' months"]
    )
    assert Purchase.objects.get(pk=purchase.pk).user_id == moved.user_id == shop["ben"].pk


@pytest.mark.django_db
def test_deleting_a_customer_locks_in_order(shop):
    AuthToken.objects.create(user=shop["ann"])
    with recorded() as statements:
        user_services.delete_user(shop["ann"])
    owned = [
        *GATED,
        "users",
        "purchase",
        "customer totals",
        "customers' months",
        "rows a user owns",
    ]
    assert_in_order(statements, owned)


@pytest.mark.django_db
def test_deactivating_a_customer_locks_in_order(shop):
    AuthToken.objects.create(user=shop["ann"])
    with recorded() as statements:
        user_services.update_user(shop["ann"], is_active=False)
    assert_in_order(statements, ["users", "rows a user owns"])


@pytest.mark.django_db
def test_giving_staff_status_locks_in_order(shop):
    with recorded() as statements:
        user_services.update_user(shop["ann"], is_staff=True)
    assert_in_order(statements, ["users"])


@pytest.mark.django_db
def test_issuing_a_token_locks_in_order(shop):
    with recorded() as statements:
        user_services.issue_token(shop["ann"])
    assert_in_order(statements, ["users", "rows a user owns"])


@pytest.mark.django_db
def test_resetting_a_second_factor_locks_in_order(shop):
    second_factor.give_app(shop["ann"])
    with recorded() as statements:
        second_factor.reset(shop["ann"])
    assert_in_order(statements, ["users", "rows a user owns"])


@pytest.mark.django_db
def test_deleting_a_product_locks_in_order(shop):
    fresh = Product.objects.create(sku="NEW", name="New", price=Decimal("1.00"))
    ProductSales.objects.create(product=fresh)  # a row left at zero by a deleted purchase
    with recorded() as statements:
        product_services.delete_product(fresh)
    assert_in_order(statements, [*GATED, "products", "product totals"])


@pytest.mark.django_db
def test_rebuilding_the_totals_locks_in_order(shop):
    with recorded() as statements:
        totals.rebuild()
    assert_in_order(statements, [*GATED, "purchase", *ROLLUPS])


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Purchase, "User", Product])
def test_deleting_several_rows_from_the_admin_list_locks_in_order(shop, rf, model):
    if model == "User":
        model, rows = type(shop["ann"]), [shop["ann"].pk, shop["ben"].pk]
    elif model is Purchase:
        rows = [shop["anns"].pk, shop["bens"].pk]
    else:
        rows = [
            Product.objects.create(sku=f"GONE-{n}", name="Gone", price=Decimal("1.00")).pk
            for n in range(2)
        ]
    request = rf.post("/admin/")
    request.user = shop["staff"]
    with recorded() as statements:
        admin.site._registry[model].delete_queryset(request, model.objects.filter(pk__in=rows))
    assert not model.objects.filter(pk__in=rows).exists()
    assert out_of_order(locks_taken(statements)) == [], "\n".join(statements)
