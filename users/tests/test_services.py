"""`users.services.change_password`: the one place a new password signs a user out."""

import pytest
from django.core.exceptions import ValidationError
from knox.models import AuthToken

from conftest import PASSWORD, in_role
from shop.errors import Forbidden, RateLimited
from users import services
from users.models import User

pytestmark = pytest.mark.django_db

NEW = "a-new-and-long-passphrase-42"


def tokens(user):
    return set(AuthToken.objects.filter(user=user).values_list("pk", flat=True))


def test_a_new_password_revokes_every_token_but_the_one_kept(customer):
    kept, _ = AuthToken.objects.create(user=customer)
    AuthToken.objects.create(user=customer)

    services.change_password(customer, NEW, keep_token=kept)

    assert tokens(customer) == {kept.pk}
    customer.refresh_from_db()
    assert customer.check_password(NEW)


def test_a_new_password_without_a_kept_token_revokes_them_all(customer, other_customer):
    AuthToken.objects.create(user=customer)
    AuthToken.objects.create(user=other_customer)

    services.change_password(customer, NEW)

    assert tokens(customer) == set()
    assert len(tokens(other_customer)) == 1  # nobody else's


def test_no_password_makes_it_unusable_and_revokes_the_tokens(customer):
    AuthToken.objects.create(user=customer)

    services.change_password(customer, None)

    customer.refresh_from_db()
    assert not customer.has_usable_password()
    assert tokens(customer) == set()


def test_a_wrong_current_password_changes_nothing(customer):
    AuthToken.objects.create(user=customer)

    with pytest.raises(ValidationError) as refused:
        services.change_password(customer, NEW, current="not-it", by=customer, address="10.0.0.1")

    assert refused.value.message_dict == {"current_password": [services.WRONG_CURRENT_PASSWORD]}
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)
    assert len(tokens(customer)) == 1


def test_the_right_current_password_lets_the_change_through(customer):
    services.change_password(customer, NEW, current=PASSWORD, by=customer, address="10.0.0.1")

    customer.refresh_from_db()
    assert customer.check_password(NEW)


def test_current_password_checks_count_against_the_sign_in_limits(customer, settings):
    settings.SHOP_TOKEN_RATE = "2/minute"
    for _ in range(2):
        with pytest.raises(ValidationError):
            services.change_password(customer, NEW, current="guess", address="10.0.0.2")

    with pytest.raises(RateLimited):
        services.change_password(customer, NEW, current=PASSWORD, address="10.0.0.2")


def test_a_password_the_validators_refuse_is_a_validation_error_on_password(customer):
    with pytest.raises(ValidationError) as refused:
        services.change_password(customer, "123")

    assert "password" in refused.value.message_dict


def test_only_a_superuser_changes_a_superusers_password(staff, make_user):
    boss = make_user(email="boss@example.com", is_staff=True, is_superuser=True)

    with pytest.raises(Forbidden):
        services.change_password(boss, NEW, by=staff)


def test_saving_a_user_or_setting_a_password_on_the_model_revokes_nothing(customer):
    """Only the service is a door: the model's own `set_password()` and `save()` are Django's."""
    AuthToken.objects.create(user=customer)

    customer.set_password(NEW)
    customer.save()

    assert len(tokens(customer)) == 1


def test_a_queryset_update_of_the_password_is_no_door_and_revokes_nothing(customer):
    """Writing the column in bulk bypasses the service (as any `update()` does): such a
    write must revoke the tokens itself, or not be a password change at all."""
    AuthToken.objects.create(user=customer)

    User.objects.filter(pk=customer.pk).update(password="!")

    assert len(tokens(customer)) == 1


# --- Staff are managed by Owners (`users.manage_staff`) -------------------------------


@pytest.fixture
def support(make_user):
    return in_role(make_user(email="support@example.com", is_staff=True), "Support")


def test_support_changes_a_customer_but_not_another_staff_member(support, customer, staff):
    services.update_user(customer, by=support, email="alice2@example.com")

    with pytest.raises(Forbidden):
        services.update_user(staff, by=support, email="taken-over@example.com")
    with pytest.raises(Forbidden):
        services.change_password(staff, NEW, by=support)
    with pytest.raises(Forbidden):
        services.delete_user(staff, by=support)
    with pytest.raises(Forbidden):
        services.issue_token(staff, by=support)


def test_support_cannot_give_staff_status_an_owner_can(support, customer, staff):
    with pytest.raises(Forbidden):
        services.update_user(customer, by=support, is_staff=True)

    services.update_user(customer, by=staff, is_staff=True)  # `staff` is an Owner

    customer.refresh_from_db()
    assert customer.is_staff


def test_only_a_superuser_makes_a_superuser(staff, customer):
    with pytest.raises(Forbidden):
        services.update_user(customer, by=staff, is_superuser=True)


def test_staff_of_any_role_change_their_own_account(support):
    services.change_password(support, NEW, current=PASSWORD, by=support, address="10.0.0.3")

    support.refresh_from_db()
    assert support.check_password(NEW)
