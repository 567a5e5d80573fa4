"""`ShopModel`: a save never re-creates a deleted row, and writes only what it changed."""

from decimal import Decimal

import pytest
from django.db import transaction
from knox.models import AuthToken

from products.models import BackfillRun, Product
from users import services
from users.models import User

pytestmark = pytest.mark.django_db


def test_two_saves_of_one_row_read_before_either_keep_both_changes():
    Product.objects.create(sku="TWO", name="Two", price=Decimal("1.00"))
    renaming, repricing = Product.objects.get(sku="TWO"), Product.objects.get(sku="TWO")

    renaming.name = "Renamed"
    renaming.save()
    repricing.price = Decimal("9.99")
    repricing.save()

    product = Product.objects.get(sku="TWO")
    assert (product.name, product.price) == ("Renamed", Decimal("9.99"))


def test_a_password_set_on_a_user_read_before_a_deactivation_keeps_the_deactivation(
    make_user, staff
):
    """What `manage.py changepassword` and Django's password forms do: set, then `save()`."""
    customer = make_user()
    AuthToken.objects.create(user=customer)
    read = User.objects.get(pk=customer.pk)
    services.update_user(customer, is_active=False, by=staff)

    read.set_password("a-new-and-long-passphrase-42")
    read.save()

    customer.refresh_from_db()
    assert not customer.is_active
    assert customer.check_password("a-new-and-long-passphrase-42")
    assert not AuthToken.objects.filter(user=customer).exists()


def test_a_save_with_nothing_changed_writes_nothing(django_assert_num_queries):
    Product.objects.create(sku="SAME", name="Same", price=Decimal("1.00"))
    product = Product.objects.get(sku="SAME")
    product.name = "Same"

    with django_assert_num_queries(1) as queries:  # whether the row is still there
        product.save()
    assert queries.captured_queries[0]["sql"].startswith("SELECT")


def test_a_list_changed_in_place_is_saved():
    BackfillRun.objects.create(source="a.csv")
    run = BackfillRun.objects.get(source="a.csv")

    run.warnings.append("a warning")
    run.save()

    assert BackfillRun.objects.get(pk=run.pk).warnings == ["a warning"]


def test_a_field_changed_before_a_partial_refresh_is_still_saved():
    Product.objects.create(sku="PART", name="Part", price=Decimal("1.00"))
    product = Product.objects.get(sku="PART")

    product.name = "Changed"
    product.refresh_from_db(fields=["price"])
    product.save()

    assert Product.objects.get(sku="PART").name == "Changed"


def test_a_saved_row_counts_as_read_again():
    product = Product.objects.create(sku="AGAIN", name="Again", price=Decimal("1.00"))
    Product.objects.filter(pk=product.pk).update(price=Decimal("2.00"))

    product.name = "Again and again"
    product.save()

    assert Product.objects.get(pk=product.pk).price == Decimal("2.00")


@pytest.mark.parametrize("changed", [True, False])
def test_a_row_deleted_meanwhile_is_not_brought_back(changed):
    Product.objects.create(sku="GONE", name="Gone", price=Decimal("1.00"))
    product = Product.objects.get(sku="GONE")
    Product.objects.filter(pk=product.pk).delete()

    if changed:
        product.name = "Back?"
    with pytest.raises(Product.DoesNotExist), transaction.atomic():
        product.save()
    assert not Product.objects.filter(sku="GONE").exists()


def test_a_save_naming_its_fields_of_a_row_deleted_meanwhile_is_not_brought_back():
    Product.objects.create(sku="GONE", name="Gone", price=Decimal("1.00"))
    product = Product.objects.get(sku="GONE")
    Product.objects.filter(pk=product.pk).delete()

    product.name = "Back?"
    with pytest.raises(Product.DoesNotExist), transaction.atomic():
        product.save(update_fields=["name"])
    assert not Product.objects.filter(sku="GONE").exists()


def test_a_new_row_given_the_id_of_a_deleted_one_is_inserted():
    """Django tries an UPDATE first for a new row with its id set; finding none, it inserts."""
    gone = Product.objects.create(sku="OLD", name="Old", price=Decimal("1.00"))
    Product.objects.filter(pk=gone.pk).delete()

    Product(pk=gone.pk, sku="NEW", name="New", price=Decimal("2.00")).save()

    assert Product.objects.get(pk=gone.pk).sku == "NEW"
