"""The catalogue's admin filters (`products.admin_filters`): categories in any case."""

import pytest

from products.admin_filters import categories
from products.models import Product
from purchases.models import Purchase

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_admin(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def kitchen_purchases(customer):
    """Two spellings of one category (and another category), each product bought once."""
    made = []
    for sku, category in [("KT-1", "Kitchen"), ("RG-1", "KITCHEN"), ("TE-1", "Drinks")]:
        product = Product.objects.create(sku=sku, name=sku, category=category, price=5)
        made.append(
            Purchase.objects.create(
                user=customer,
                product=product,
                quantity=1,
                unit_price=product.price,
                customer_email=customer.email,
                product_sku=product.sku,
                product_name=product.name,
            )
        )
    return made


def test_categories_are_listed_once_in_any_case(kitchen_purchases):
    found = categories()

    assert sorted(c.upper() for c in found) == ["DRINKS", "KITCHEN"]


def test_the_category_filter_matches_any_case(staff_admin, kitchen_purchases):
    products = staff_admin.get("/admin/products/product/", {"category": "kitchen"})
    purchases = staff_admin.get("/admin/purchases/purchase/", {"product__category": "kitchen"})

    assert sorted(p.sku for p in products.context["cl"].result_list) == ["KT-1", "RG-1"]
    assert sorted(row.pk for row in purchases.context["cl"].result_list) == [
        kitchen_purchases[0].pk,
        kitchen_purchases[1].pk,
    ]
