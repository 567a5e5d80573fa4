"""Deactivating a user revokes their API tokens: reactivating them brings none back."""

import pytest
from django.urls import reverse
from knox.models import AuthToken

from conftest import client_for
from users import services

pytestmark = pytest.mark.django_db


def change_form(user, **fields):
    form = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "gender": user.gender,
        "purchases-TOTAL_FORMS": "0",
        "purchases-INITIAL_FORMS": "0",
    }
    form.update(fields)
    return {name: value for name, value in form.items() if value is not None}


def test_the_service_revokes_every_token_of_a_user_it_deactivates(customer):
    client = client_for(customer)

    services.update_user(customer, is_active=False)
    services.update_user(customer, is_active=True)

    assert not AuthToken.objects.filter(user=customer).exists()
    assert client.get(f"/users/{customer.pk}").status_code == 401


def test_a_change_that_keeps_the_user_active_keeps_their_tokens(customer):
    client = client_for(customer)

    services.update_user(customer, is_active=True, last_name="Kept")

    assert client.get(f"/users/{customer.pk}").status_code == 200


def test_deactivating_then_reactivating_in_the_admin_leaves_old_tokens_dead(admin_client, customer):
    client = client_for(customer)
    url = reverse("admin:users_user_change", args=[customer.pk])

    admin_client.post(url, change_form(customer, is_active=None))  # unticked: inactive
    customer.refresh_from_db()
    assert not customer.is_active
    admin_client.post(url, change_form(customer, is_active="on"))
    customer.refresh_from_db()

    assert customer.is_active
    assert client.get(f"/users/{customer.pk}").status_code == 401
