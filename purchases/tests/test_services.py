"""`purchases.services`: the price snapshot, corrections, and concurrent purchases."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from products.models import Product
from purchases import refunds, services
from purchases.models import Purchase
from shop.errors import Forbidden
from users.services import delete_user


@pytest.mark.django_db
def test_the_price_is_the_products_at_purchase_time(customer, product):
    first = services.create_purchase(user=customer, product=product, quantity=2)
    Product.objects.filter(pk=product.pk).update(price=Decimal("20.00"))
    second = services.create_purchase(user=customer, product=product, quantity=2)

    first.refresh_from_db()
    assert (first.unit_price, first.total) == (Decimal("12.50"), Decimal("25.00"))
    assert (second.unit_price, second.total) == (Decimal("20.00"), Decimal("40.00"))


@pytest.mark.django_db
def test_a_customer_may_not_buy_for_someone_else(customer, other_customer, product):
    with pytest.raises(Forbidden) as refused:
        services.create_purchase(by=customer, user=other_customer, product=product)
    assert refused.value.message == "Customers may only create purchases for themselves."
    assert not Purchase.objects.exists()


@pytest.mark.django_db
def test_buying_for_someone_else_is_refused_before_any_lookup(
    customer, product, django_assert_num_queries
):
    with django_assert_num_queries(0), pytest.raises(Forbidden):
        services.create_purchase(by=customer, user=10**9, product=10**9)


@pytest.mark.django_db
def test_staff_and_the_system_buy_for_anyone(staff, customer, other_customer, product):
    for by in (staff, None, customer):
        services.create_purchase(by=by, user=customer, product=product)
    assert Purchase.objects.filter(user=customer).count() == 3


@pytest.mark.django_db
def test_the_quantity_has_a_ceiling_on_create_and_update(customer, product):
    services.create_purchase(user=customer, product=product, quantity=services.MAX_QUANTITY)
    with pytest.raises(ValidationError) as refused:
        services.create_purchase(user=customer, product=product, quantity=2_000_000)
    assert refused.value.message_dict == {"quantity": [services.QUANTITY_TOO_LARGE]}

    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    with pytest.raises(ValidationError):
        services.update_purchase(purchase, quantity=services.MAX_QUANTITY + 1)
    purchase.refresh_from_db()
    assert purchase.quantity == 2


@pytest.mark.django_db
def test_the_snapshots_survive_renames_and_deletion(customer, product):
    purchase = services.create_purchase(user=customer, product=product)
    Product.objects.filter(pk=product.pk).update(name="Big mug", sku="M-002")
    customer.delete()

    purchase.refresh_from_db()
    assert purchase.user is None
    assert (purchase.customer_email, purchase.product_sku, purchase.product_name) == (
        "alice@example.com",
        "M-001",
        "Mug",
    )


@pytest.mark.django_db
def test_a_product_with_purchases_cannot_be_deleted(customer, product):
    from django.db.models import ProtectedError

    services.create_purchase(user=customer, product=product)
    with pytest.raises(ProtectedError):
        product.delete()


@pytest.mark.django_db
def test_update_reprices_only_on_a_new_product(customer, product, other_product):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)
    Product.objects.filter(pk=product.pk).update(price=Decimal("1.00"))

    purchase = services.update_purchase(purchase, quantity=3, product=product)
    assert (purchase.unit_price, purchase.total) == (Decimal("12.50"), Decimal("37.50"))

    purchase = services.update_purchase(purchase, product=other_product)
    assert (purchase.unit_price, purchase.total) == (Decimal("3.99"), Decimal("11.97"))
    assert purchase.product_sku == "T-001"


@pytest.mark.django_db
def test_the_database_refuses_a_quantity_below_one(customer, product):
    purchase = services.create_purchase(user=customer, product=product)
    with pytest.raises(IntegrityError), transaction.atomic():
        Purchase.objects.filter(pk=purchase.pk).update(quantity=0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_purchases_are_all_recorded(postgres_only, make_user, make_product):
    """50 purchases at once, from 50 connections: every one recorded, totals adding up."""
    users = [make_user() for _ in range(5)]
    products = [make_product(price=f"{n}.25") for n in (1, 2)]
    barrier = threading.Barrier(50)
    errors = []

    def buy(n):
        try:
            barrier.wait(timeout=30)
            services.create_purchase(user=users[n % 5], product=products[n % 2], quantity=1 + n % 3)
        except Exception as error:  # reported below, in the main thread
            errors.append(error)
        finally:
            connection.close()  # each thread has its own connection; give it back

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Purchase.objects.count() == 50
    expected = sum((1 + n % 3) * Decimal(f"{(1, 2)[n % 2]}.25") for n in range(50))
    assert sum(p.total for p in Purchase.objects.all()) == expected
    from purchases import analytics

    ranked = analytics.top_customers(limit=5)
    assert sum(customer.total_spent for customer in ranked) == expected
    assert sum(customer.purchase_count for customer in ranked) == 50


@pytest.mark.django_db(transaction=True)
def test_a_price_change_during_purchases_is_never_torn(postgres_only, customer, make_product):
    """Purchases racing price changes pay one of the prices the product really had."""
    product = make_product(price="10.00")
    prices = [Decimal(f"{10 + n}.00") for n in range(20)]
    errors = []

    def buy():
        try:
            for _ in range(20):
                services.create_purchase(user=customer, product=product)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    def reprice():
        try:
            for price in prices:
                with transaction.atomic():
                    Product.objects.select_for_update().filter(pk=product.pk).update(price=price)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy), threading.Thread(target=reprice)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    paid = set(Purchase.objects.values_list("unit_price", flat=True))
    assert paid <= {Decimal("10.00"), *prices}
    assert Purchase.objects.count() == 20


def selects(queries):
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("SELECT")]


@pytest.mark.django_db
def test_creating_a_purchase_over_the_api_reads_the_customer_and_the_product_once(
    customer_client, customer, product, django_assert_num_queries
):
    # The token (knox: one query for token and user), then the service's transaction (a
    # savepoint inside the test's): on PostgreSQL the rebuild's gate (`shop.locking`), the
    # customer's and the product's rows locked — the serializer looks nothing up —, the
    # purchase, the two sales totals it changes, the customer's month, its day's revenue and
    # its audit event.
    gate = connection.vendor == "postgresql"
    with django_assert_num_queries(11 + gate) as queries:
        response = customer_client.post(
            "/purchases", {"user_id": customer.pk, "product_id": product.pk}, format="json"
        )

    assert response.status_code == 201
    reads = selects(queries)
    assert len(reads) == 3, reads
    assert sum("users_user" in sql and "products_product" not in sql for sql in reads[1:]) == 1
    assert sum("products_product" in sql for sql in reads[1:]) == 1


@pytest.mark.django_db
def test_a_purchase_deleted_meanwhile_cannot_be_corrected_or_deleted_again(customer, product):
    purchase = services.create_purchase(user=customer, product=product)
    services.delete_purchase(purchase)

    with pytest.raises(Purchase.DoesNotExist):
        services.update_purchase(purchase, quantity=3)
    with pytest.raises(Purchase.DoesNotExist):
        services.delete_purchase(purchase)
    assert not Purchase.objects.filter(pk=purchase.pk).exists()


@pytest.mark.django_db
def test_a_product_deleted_meanwhile_stays_deleted(product):
    from products.services import delete_product, update_product

    stale = Product.objects.get(pk=product.pk)
    delete_product(product)

    with pytest.raises(Product.DoesNotExist):
        update_product(stale, name="Back")
    assert not Product.objects.filter(sku=product.sku).exists()


@pytest.mark.django_db
def test_the_admin_says_a_purchase_was_deleted_meanwhile(client, staff, customer, product):
    purchase = services.create_purchase(user=customer, product=product)
    client.force_login(staff)
    services.delete_purchase(purchase)

    response = client.post(f"/admin/purchases/purchase/{purchase.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302  # Django's own "doesn't exist" redirect, not a 500


@pytest.mark.django_db
def test_a_correction_never_undoes_the_refunds_given(staff, customer, product, other_product):
    purchase = services.create_purchase(user=customer, product=product, quantity=4)  # 50.00
    refunds.refund_purchase(purchase, by=staff, amount=Decimal("30.00"), reason="goodwill")

    with pytest.raises(ValidationError) as below_refunded:
        services.update_purchase(purchase, quantity=2)  # 25.00 < 30.00 refunded
    with pytest.raises(ValidationError) as moved:
        services.update_purchase(purchase, product=other_product)
    kept = services.update_purchase(purchase, quantity=3, user=staff)  # 37.50 >= 30.00

    assert below_refunded.value.message_dict == {
        "quantity": [
            "30.00 of this purchase has been refunded: its total (25.00 for 2) cannot be less."
        ]
    }
    assert moved.value.message_dict == {"product_id": [services.REFUNDED_KEEPS_PRODUCT]}
    assert (kept.quantity, kept.user_id, kept.net_total) == (3, staff.pk, Decimal("7.50"))


@pytest.mark.django_db
def test_a_discontinued_product_cannot_be_bought_or_moved_to(customer, product, other_product):
    purchase = services.create_purchase(user=customer, product=other_product)
    Product.objects.filter(pk=product.pk).update(active=False)

    with pytest.raises(ValidationError) as refused:
        services.create_purchase(user=customer, product=product)
    assert "discontinued" in refused.value.message_dict["product_id"][0]
    with pytest.raises(ValidationError):
        services.update_purchase(purchase, product=product)

    purchase.refresh_from_db()
    assert purchase.product_id == other_product.pk
    assert Purchase.objects.count() == 1


@pytest.mark.django_db
def test_a_discontinued_products_purchases_can_still_be_corrected(customer, product):
    purchase = services.create_purchase(user=customer, product=product)
    Product.objects.filter(pk=product.pk).update(active=False)

    services.update_purchase(purchase, quantity=3, product=product)

    purchase.refresh_from_db()
    assert purchase.quantity == 3


@pytest.mark.django_db
def test_a_purchase_is_recorded_with_what_was_bought_and_paid(customer, product):
    purchase = services.create_purchase(user=customer, product=product, quantity=2)

    event = AuditEvent.objects.get(action="created")
    assert (event.object_type, event.object_id) == ("purchases.purchase", str(purchase.pk))
    assert event.changes["quantity"] == [None, 2]
    assert event.changes["unit_price"] == [None, "12.50"]
    assert event.changes["user_id"] == [None, customer.pk]


@pytest.mark.django_db
def test_a_correction_records_before_and_after(customer, product, other_product):
    purchase = services.create_purchase(user=customer, product=product)

    services.update_purchase(purchase, product=other_product, quantity=3)

    event = AuditEvent.objects.get(action="updated")
    assert event.changes["product_id"] == [product.pk, other_product.pk]
    assert event.changes["unit_price"] == ["12.50", "3.99"]
    assert event.changes["quantity"] == [1, 3]
    assert "user_id" not in event.changes


@pytest.mark.django_db
def test_a_deleted_purchase_can_be_read_back_in_full(staff_client, customer, product):
    purchase = services.create_purchase(user=customer, product=product, quantity=4)
    row = {f.attname: getattr(purchase, f.attname) for f in Purchase._meta.concrete_fields}

    assert staff_client.delete(f"/purchases/{purchase.pk}").status_code == 200
    response = staff_client.get(
        f"/audit-events?object_type=purchases.purchase&object_id={purchase.pk}&action=deleted"
    )

    (event,) = response.json()
    assert event["snapshot"] == {
        **row,
        "unit_price": "12.50",
        "refunded_amount": "0.00",
        "created_at": row["created_at"].isoformat(),
    }


@pytest.mark.django_db
def test_deleting_several_keeps_each_row(customer, product):
    purchases = [services.create_purchase(user=customer, product=product) for _ in range(2)]

    services.delete_purchases(purchases)

    snapshots = AuditEvent.objects.filter(action="deleted").order_by("id")
    assert [event.snapshot["id"] for event in snapshots] == [p.pk for p in purchases]


@pytest.mark.django_db
def test_a_purchase_rolled_back_leaves_no_event(customer, product):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.create_purchase(user=customer, product=product)
        raise RuntimeError

    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_purchases_detached_from_a_deleted_customer_say_so(customer, product, staff):
    purchase = services.create_purchase(user=customer, product=product)

    delete_user(customer, by=staff)

    event = AuditEvent.objects.get(action="updated", object_id=str(purchase.pk))
    assert event.changes == {"user_id": [customer.pk, None]}
