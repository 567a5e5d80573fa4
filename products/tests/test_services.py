"""The catalogue's services (products/services.py): the rules of a product's data, and writes."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from products.models import Product
from products.services import (
    check_product_fields,
    check_purchasable,
    clean_product,
    create_product,
    set_active,
    update_product,
)
from shop.parsers import JSONNumber

pytestmark = pytest.mark.django_db

GOOD = {"sku": "A-1", "name": "Anvil", "price": "12.50"}


def refusal(fields, **options):
    with pytest.raises(ValidationError) as refused:
        clean_product(fields, **options)
    return refused.value.message_dict


class TestCleanProduct:
    def test_text_is_trimmed_and_the_price_read_as_written(self):
        cleaned = clean_product({"sku": "\ufeff A-1\u200b", "name": " Anvil ", "price": " 12.5 "})

        assert cleaned == {"sku": "A-1", "name": "Anvil", "price": Decimal("12.5")}

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            ({**GOOD, "sku": "\u200b"}, {"sku": ["This field may not be blank."]}),
            (
                {**GOOD, "sku": "INV\u200b-3"},
                {"sku": ["The SKU contains an invisible character (U+200B)."]},
            ),
            (
                {**GOOD, "sku": "S" * 65},
                {"sku": ["Ensure this field has no more than 64 characters."]},
            ),
            ({**GOOD, "name": ""}, {"name": ["This field may not be blank."]}),
            (
                {**GOOD, "category": "C" * 101},
                {"category": ["Ensure this field has no more than 100 characters."]},
            ),
            ({**GOOD, "price": "-0"}, {"price": ["Negative price -0 (must be 0 or more)."]}),
            (
                {**GOOD, "price": "1e3"},
                {"price": ["Price '1e3' is not a plain decimal number like 12.50."]},
            ),
            (
                {"sku": "A-1"},
                {"name": ["This field is required."], "price": ["This field is required."]},
            ),
        ],
        ids=[
            "blank-sku",
            "invisible",
            "long-sku",
            "blank-name",
            "long-category",
            "-0",
            "1e3",
            "required",
        ],
    )
    def test_each_rule_refuses_with_its_message(self, fields, errors):
        assert refusal(fields) == errors

    def test_a_percent_sign_in_a_refused_price_is_quoted_as_written(self):
        assert refusal({**GOOD, "price": "10%(x)s"}) == {
            "price": ["Price '10%(x)s' is not a plain decimal number like 12.50."]
        }

    def test_every_field_in_error_is_reported_at_once(self):
        errors = refusal({"sku": "", "name": "", "price": "x"})

        assert set(errors) == {"sku", "name", "price"}

    def test_lengths_are_the_model_columns(self):
        name_limit = Product._meta.get_field("name").max_length

        assert clean_product({**GOOD, "name": "N" * name_limit})["name"] == "N" * name_limit
        assert "name" in refusal({**GOOD, "name": "N" * (name_limit + 1)})

    def test_a_json_number_is_held_to_its_text(self):
        assert "price" in refusal({**GOOD, "price": JSONNumber("1E2")})
        assert clean_product({**GOOD, "price": JSONNumber("2.5")})["price"] == Decimal("2.5")

    def test_a_computed_decimal_is_read_in_plain_digits(self):
        assert clean_product({**GOOD, "price": Decimal(10000) / 100})["price"] == 100

    def test_a_sku_in_use_is_a_duplicate_unless_it_is_the_products_own(self):
        product = Product.objects.create(sku="A-1", name="Anvil", price=1)

        assert refusal({**GOOD, "sku": "A-1\u200b"}) == {
            "sku": ["A product with that SKU already exists."]
        }
        assert clean_product({"sku": "A-1"}, instance=product, partial=True) == {"sku": "A-1"}

    def test_partial_requires_nothing(self):
        assert clean_product({"name": " New "}, partial=True) == {"name": "New"}

    def test_the_field_check_alone_reads_no_database(self, django_assert_num_queries):
        with django_assert_num_queries(0):
            assert check_product_fields(GOOD)["sku"] == "A-1"


class TestWrites:
    def test_create_and_update_apply_the_rules(self):
        with pytest.raises(ValidationError):
            create_product(sku="INV\u200b-3", name="Odd", price=Decimal("1"))
        product = create_product(sku=" A-1 ", name="Anvil", price="1.50")

        assert (product.sku, product.price) == ("A-1", Decimal("1.50"))
        with pytest.raises(ValidationError):
            update_product(product, price="-1")
        assert update_product(product, name=" Axe ").name == "Axe"


class TestActive:
    def test_set_active_changes_only_those_that_differ(self):
        on = Product.objects.create(sku="ON", name="On", price=1)
        off = Product.objects.create(sku="OFF", name="Off", price=1, active=False)

        assert set_active([on, off], False) == 1
        assert set(Product.objects.values_list("sku", "active")) == {("ON", False), ("OFF", False)}
        assert set_active([on, off], True) == 2

    def test_set_active_skips_products_deleted_meanwhile(self):
        gone = Product.objects.create(sku="GONE", name="Gone", price=1)
        Product.objects.filter(pk=gone.pk).delete()

        assert set_active([gone], False) == 0

    def test_a_discontinued_product_cannot_be_bought(self):
        product = Product.objects.create(sku="OLD", name="Old", price=1, active=False)

        with pytest.raises(ValidationError) as refused:
            check_purchasable(product)

        assert refused.value.message_dict == {
            "product": [f"Product {product.pk} (OLD) is discontinued and can no longer be bought."]
        }

    def test_an_active_product_can_be_bought(self):
        assert check_purchasable(Product.objects.create(sku="NEW", name="New", price=1)) is None
