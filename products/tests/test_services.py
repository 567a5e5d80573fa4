"""The catalogue's services (products/services.py): the rules of a product's data, and writes,
each leaving its audit event in its own transaction."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AuditEvent
from products.models import Product
from products.services import (
    MAX_LENGTHS,
    check_product_fields,
    check_purchasable,
    checked_price,
    clean_product,
    clean_text,
    create_product,
    delete_product,
    delete_products,
    prices_written_clean,
    set_active,
    update_product,
    written_clean,
)
from purchases.services import create_purchase
from shop.errors import Conflict
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


class TestFieldRules:
    """The rules of one field, which the CSV reader calls for each cell."""

    @pytest.mark.parametrize(
        ("field", "value", "code"),
        [
            ("sku", " \u200b ", "blank"),
            ("name", "", "blank"),
            ("sku", "A\u200bB", "invisible"),
            ("metal_type", "m" * 101, "max_length"),
            ("description", "d" * (1024 * 1024 + 1), "max_length"),
        ],
    )
    def test_a_text_refusal_names_its_field_and_rule(self, field, value, code):
        with pytest.raises(ValidationError) as refused:
            clean_text(field, value)

        assert (refused.value.code, refused.value.params["field"]) == (code, field)

    def test_text_that_may_be_blank_is_trimmed_to_nothing(self):
        assert clean_text("category", "\u00a0\u200b ") == ""
        assert clean_text("stone_type", None) == ""

    def test_a_price_is_checked_as_the_text_it_is_written_in(self):
        assert checked_price(" 007.10 ") == "007.10"
        with pytest.raises(ValidationError) as refused:
            checked_price("1,250.00")

        assert refused.value.params["field"] == "price"
        assert "thousands separator" in refused.value.params["problem"]


# Text as a catalogue file's cells hold it: ordinary characters, and the ones the rules
# are about (spaces of every kind, invisible format characters), short and long.
CELL = st.text(
    alphabet=st.one_of(
        st.sampled_from("aZ9-. é\u00a0\u200b\u2060\ufeff\t\n\u3000\u202e"),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
) | st.text(alphabet="ab", min_size=95, max_size=260)


class TestColumnScreens:
    """The screens a catalogue file's columns pass at once: never looser than the rules."""

    @given(name=st.sampled_from(sorted(MAX_LENGTHS)), values=st.lists(CELL, max_size=6))
    def test_a_column_passes_only_if_the_text_rule_keeps_each_value_as_it_is(self, name, values):
        if written_clean(name, values):
            assert [clean_text(name, value) for value in values] == values

    @given(values=st.lists(st.text(alphabet="0123456789.,-+e $", max_size=14), max_size=6))
    def test_a_price_column_passes_only_if_the_price_rule_keeps_each_as_it_is(self, values):
        if prices_written_clean(values):
            assert [checked_price(value) for value in values] == values

    def test_the_usual_columns_pass(self):
        assert written_clean("sku", ["BKS-0000001", "A-1"])
        assert written_clean("name", ["Crème brûlée torch", "Anvil"])
        assert written_clean("description", ["", 'Heavy, "excellent".'])
        assert prices_written_clean(["12.99", "0", "007.10"])

    @pytest.mark.parametrize(
        ("name", "values"),
        [
            ("sku", ["A-1", " A-2"]),
            ("sku", ["A\u200bB"]),
            ("name", ["Anvil", ""]),
            ("name", ["\u200bAnvil"]),
            ("category", ["c" * 101]),
        ],
    )
    def test_a_column_with_one_value_to_trim_or_refuse_does_not_pass(self, name, values):
        assert not written_clean(name, values)

    def test_a_price_column_with_one_refused_price_does_not_pass(self):
        assert not prices_written_clean(["12.99", "1,250.00"])


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


# The audit trail of each write.


@pytest.fixture
def product():
    return create_product(sku="S-1", name="Ring", category="rings", price="10")


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_new_product_is_recorded_with_its_fields(product):
    (event,) = events("created")

    assert (event.object_type, event.object_id) == ("products.product", str(product.pk))
    assert event.changes["sku"] == [None, "S-1"]
    assert event.changes["price"] == [None, "10.00"]


def test_an_update_records_only_what_changed_before_and_after(product):
    update_product(product, price="12.5", name="Ring")

    (event,) = events("updated")
    assert event.changes == {"price": ["10.00", "12.50"]}


def test_an_update_that_changes_nothing_records_nothing(product):
    update_product(product, price="10.00")

    assert events("updated") == []


def test_a_deleted_products_event_keeps_its_whole_row(product):
    delete_products([product])

    (event,) = events("deleted")
    assert event.snapshot["sku"] == "S-1"
    assert event.snapshot["price"] == "10.00"
    assert event.snapshot["id"] == product.pk


def test_a_refused_deletion_records_nothing(product, customer):
    create_purchase(user=customer, product=product)

    with pytest.raises(Conflict):
        delete_product(product)

    assert events("deleted") == []


def test_a_write_rolled_back_leaves_no_event(product):
    with pytest.raises(RuntimeError), transaction.atomic():
        update_product(product, price="99.00")
        raise RuntimeError

    assert events("updated") == []
    assert Product.objects.get().price == 10


def test_discontinuing_records_each_product_changed(product):
    set_active([product], False)
    set_active([product], False)

    (event,) = events("updated")
    assert (event.object_id, event.changes) == (str(product.pk), {"active": [True, False]})
