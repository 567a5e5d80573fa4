"""Expired tokens: refused and deleted when presented; swept when the user signs in again."""

from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken

from conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db


def expire(user):
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))


def test_an_expired_token_is_401_and_deleted(customer):
    client = client_for(customer)
    expire(customer)

    assert client.get(f"/users/{customer.pk}").status_code == 401
    assert not AuthToken.objects.filter(user=customer).exists()


def test_signing_in_sweeps_the_users_expired_tokens(anon_client, customer, other_customer):
    client_for(customer), client_for(customer), client_for(other_customer)
    expire(customer)
    expire(other_customer)

    response = anon_client.post(
        "/auth/token", {"email": customer.email, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert AuthToken.objects.filter(user=customer).count() == 1  # only the new one
    assert AuthToken.objects.filter(user=other_customer).count() == 1  # not theirs to sweep
