"""`products.services`: each write leaves its audit event, in its own transaction."""

import pytest
from django.db import transaction

from audit.models import AuditEvent
from products import services
from products.models import Product
from purchases.services import create_purchase
from shop.errors import Conflict

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    return services.create_product(sku="S-1", name="Ring", category="rings", price="10")


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_new_product_is_recorded_with_its_fields(product):
    (event,) = events("created")

    assert (event.object_type, event.object_id) == ("products.product", str(product.pk))
    assert event.changes["sku"] == [None, "S-1"]
    assert event.changes["price"] == [None, "10.00"]


def test_an_update_records_only_what_changed_before_and_after(product):
    services.update_product(product, price="12.5", name="Ring")

    (event,) = events("updated")
    assert event.changes == {"price": ["10.00", "12.50"]}


def test_an_update_that_changes_nothing_records_nothing(product):
    services.update_product(product, price="10.00")

    assert events("updated") == []


def test_a_deleted_products_event_keeps_its_whole_row(product):
    services.delete_products([product])

    (event,) = events("deleted")
    assert event.snapshot["sku"] == "S-1"
    assert event.snapshot["price"] == "10.00"
    assert event.snapshot["id"] == product.pk


def test_a_refused_deletion_records_nothing(product, customer):
    create_purchase(user=customer, product=product)

    with pytest.raises(Conflict):
        services.delete_product(product)

    assert events("deleted") == []


def test_a_write_rolled_back_leaves_no_event(product):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.update_product(product, price="99.00")
        raise RuntimeError

    assert events("updated") == []
    assert Product.objects.get().price == 10
